"""The ``proxydata`` command end to end at tiny settings (in process, plus one
call of the installed entry point)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import proxydata
from proxydata import ProxydataValueError, ProxySampler, load_digits
from proxydata.cli import main
from proxydata.data import split_indices

DIGITS_N = 1797
TINY_SEARCH = [
    "--data",
    "digits",
    "--epochs",
    "1",
    "--C",
    "4",
    "--N",
    "1",
    "--batch-size",
    "128",
    "--no-progress",
]


@pytest.fixture(scope="module")
def digits_targets() -> np.ndarray:
    return load_digits().targets


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def half_up(x: float) -> int:
    return math.floor(x + 0.5)


# ---------------------------------------------------------------------------- select
@pytest.mark.parametrize("ratio", [0.1, 0.25, 1.0])
def test_select_rs_keeps_round_rn_and_saves_json(capsys, tmp_path: Path, ratio: float) -> None:
    out_file = tmp_path / "proxy.json"
    code, out, err = run(
        capsys,
        "select",
        "rs",
        "--data",
        "digits",
        "--ratio",
        str(ratio),
        "--seed",
        "3",
        "-o",
        str(out_file),
        "--no-progress",
    )
    assert code == 0, err
    m = half_up(ratio * DIGITS_N)
    assert f"kept {m} of {DIGITS_N} samples" in out
    assert "class balance degree" in out and "selection time" in out
    assert "selection cost: 0 sample passes" in out  # RS runs no network
    saved = json.loads(out_file.read_text())
    assert saved["method"] == "rs" and saved["seed"] == 3 and len(saved["indices"]) == m
    again = ProxySampler.load(out_file, load_digits())
    assert again.indices.size == m


def test_select_cc_or_prints_per_class_counts_and_balance(capsys, tmp_path: Path, digits_targets) -> None:
    out_file = tmp_path / "proxy.npz"
    code, out, err = run(
        capsys, "select", "CC-OR", "--data", "digits", "--ratio", "0.25", "-o", str(out_file), "--no-progress"
    )
    assert code == 0, err
    full = np.bincount(digits_targets)
    expected = np.floor(0.25 * full + 0.5).astype(int)
    kept_row = next(line for line in out.splitlines() if line.strip().startswith("kept "))
    assert [int(v) for v in kept_row.split()[1:]] == expected.tolist()
    from proxydata.metrics import class_balance_degree

    assert f"kept {class_balance_degree(expected):.4f}" in out
    loaded = ProxySampler.load(out_file, load_digits())
    assert np.array_equal(np.bincount(digits_targets[loaded.indices], minlength=10), expected)


def test_select_km_or_passes_the_cluster_count(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "km.json"
    code, _, err = run(
        capsys,
        "select",
        "km-or",
        "--data",
        "digits",
        "--ratio",
        "0.5",
        "--clusters",
        "7",
        "--backend",
        "sklearn",
        "-o",
        str(out_file),
        "--no-progress",
    )
    assert code == 0, err
    saved = json.loads(out_file.read_text())
    assert saved["params"]["n_clusters"] == 7 and saved["params"]["backend"] == "sklearn"
    assert len(saved["indices"]) == half_up(0.5 * DIGITS_N)


def test_select_reads_npz_sources(capsys, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = tmp_path / "tiny.npz"
    np.savez(src, x_train=rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8), y_train=np.repeat([0, 1], 20))
    code, out, err = run(capsys, "select", "cc-rs", "--data", f"npz:{src}", "--ratio", "0.5", "--no-progress")
    assert code == 0, err
    assert "kept 20 of 40 samples" in out


def test_select_balance_degree_ignores_unused_class_ids(capsys, tmp_path: Path) -> None:
    # labels {3, 7}, perfectly balanced: B = 1, not the 0.036 that ids 0..7 would give
    rng = np.random.default_rng(0)
    src = tmp_path / "two.npz"
    np.savez(src, x_train=rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8), y_train=np.repeat([3, 7], 20))
    code, out, err = run(capsys, "select", "cc-rs", "--data", f"npz:{src}", "--ratio", "0.5", "--no-progress")
    assert code == 0, err
    assert "class balance degree: kept 1.0000 (all data 1.0000)" in out
    assert "  class       3      7" in out


# ---------------------------------------------------------------------------- search
def test_search_with_a_proxy_writes_a_valid_record(capsys, tmp_path: Path, digits_targets) -> None:
    from proxydata.nas import Genotype

    out_file = tmp_path / "result.json"
    code, out, err = run(
        capsys,
        "search",
        *TINY_SEARCH,
        "--proxy",
        "rs",
        "--ratio",
        "0.5",
        "--val-fraction",
        "0.4",
        "-o",
        str(out_file),
    )
    assert code == 0, err
    record = json.loads(out_file.read_text())
    train_idx, val_idx = split_indices(DIGITS_N, 0.6, seed=0, stratify=digits_targets)
    assert record["train_pool"] == train_idx.size and record["val_size"] == val_idx.size
    assert record["kept_train"] == half_up(0.5 * train_idx.size)
    assert str(Genotype.parse(record["genotype"])) == record["genotype"]
    assert len(record["genotypes"]) == 1
    assert f"genotype: {record['genotype']}" in out
    assert "search seconds:" in out and f"training split {record['kept_train']} of {train_idx.size}" in out


def test_search_with_bdp_and_from_scratch_evaluation(capsys, tmp_path: Path, digits_targets) -> None:
    out_file = tmp_path / "bdp.json"
    code, out, err = run(
        capsys,
        "search",
        *TINY_SEARCH,
        "--epochs",
        "3",
        "--bdp",
        "--bdp-interval",
        "2",
        "--train-from-scratch",
        "1",
        "--test-fraction",
        "0.25",
        "-o",
        str(out_file),
    )
    assert code == 0, err
    record = json.loads(out_file.read_text())
    assert record["config"]["bdp"] is True
    assert record["config"]["bdp_kwargs"]["interval"] == 2
    # one pruning step after epoch 2 removes round(0.1 n) of each split (10 classes, limit rarely binds)
    assert record["final_train"] < record["train_pool"] and record["final_val"] < record["val_size"]
    assert record["train_sizes"][2] == record["final_train"]
    # the test hold-out is taken first: a stratified quarter of the data, never searched
    pool, test = split_indices(DIGITS_N, 0.75, seed=0, stratify=digits_targets)
    scratch = record["from_scratch"]
    assert scratch["test_size"] == test.size and scratch["train_size"] == pool.size
    assert record["train_pool"] + record["val_size"] == pool.size
    assert 0.0 <= scratch["test_acc"] <= 1.0
    assert "from-scratch test accuracy" in out and "stratified hold-out" in out


def test_search_evaluates_on_the_sources_own_test_split(capsys, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = tmp_path / "tiny.npz"
    np.savez(
        src,
        x_train=rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8),
        y_train=np.tile([0, 1, 2], 20),
        x_test=rng.integers(0, 256, (15, 8, 8, 3), dtype=np.uint8),
        y_test=np.tile([0, 1, 2], 5),
    )
    out_file = tmp_path / "r.json"
    code, out, err = run(
        capsys,
        "search",
        "--data",
        f"npz:{src}",
        "--epochs",
        "1",
        "--C",
        "2",
        "--N",
        "1",
        "--batch-size",
        "16",
        "--train-from-scratch",
        "1",
        "--no-progress",
        "-o",
        str(out_file),
    )
    assert code == 0, err
    record = json.loads(out_file.read_text())
    # no hold-out: all 60 training images are searched, the 15 test images only tested
    assert record["train_pool"] + record["val_size"] == 60
    assert record["from_scratch"]["test_size"] == 15 and record["from_scratch"]["train_size"] == 60
    assert record["test"] == "the source's test split" and "the source's test split" in out


def test_search_looks_the_genotype_up_in_a_table(capsys, tmp_path: Path, monkeypatch) -> None:
    from proxydata.nas import Genotype

    table = tmp_path / "table.csv"
    rows = ["arch_str,cifar10_test_200ep"]
    rows += [f"{g},{k % 100}.5" for k, g in enumerate(Genotype.all())]
    table.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("PROXYDATA_NB201_TABLE", str(table))
    out_file = tmp_path / "r.json"
    code, out, err = run(capsys, "search", *TINY_SEARCH, "-o", str(out_file))
    assert code == 0, err
    record = json.loads(out_file.read_text())
    index = [str(g) for g in Genotype.all()].index(record["genotype"])
    assert record["accuracies"]["cifar10_test_200ep"] == pytest.approx(index % 100 + 0.5)
    assert f"cifar10_test_200ep: {index % 100 + 0.5:.2f}" in out


# ---------------------------------------------------------------------------- demo
def test_demo_prints_three_runs_side_by_side(capsys, tmp_path: Path) -> None:
    from proxydata.nas import Genotype

    out_file = tmp_path / "demo.json"
    code, out, err = run(capsys, "demo", "--epochs", "3", "--scratch-epochs", "1", "-o", str(out_file))
    assert code == 0, err
    result = json.loads(out_file.read_text())
    names = [r["name"] for r in result["runs"]]
    assert names == ["full data", "CC-OR r=0.5", "BiLevelPruner"]
    # the log announces each run before its epoch lines, in order
    labels = [line for line in out.splitlines() if line.startswith("== demo run ")]
    assert labels == [f"== demo run {k}/3: {name} (3 search epochs) ==" for k, name in enumerate(names, 1)]
    epoch_lines = [k for k, line in enumerate(out.splitlines()) if line.startswith("darts-v1 epoch 1/3")]
    label_lines = [k for k, line in enumerate(out.splitlines()) if line.startswith("== demo run ")]
    assert len(epoch_lines) == 3 and all(a < b for a, b in zip(label_lines, epoch_lines))
    full, proxy, bdp = (r["record"] for r in result["runs"])
    assert full["kept_train"] == full["train_pool"]
    assert proxy["config"]["proxy"] == "cc-or" and proxy["kept_train"] < 0.55 * proxy["train_pool"]
    assert bdp["config"]["bdp"] is True
    # interval max(2, 3 // 5) = 2: one step after epoch 2 prunes 10 % of each split
    assert bdp["final_train"] < bdp["train_pool"] and bdp["final_val"] < bdp["val_size"]
    assert result["settings"]["epochs"] == 3
    for run_ in result["runs"]:
        genotype = run_["record"]["genotype"]
        assert str(Genotype.parse(genotype)) == genotype
        assert genotype in out and run_["name"] in out
        assert 0.0 <= run_["from_scratch"]["test_acc"] <= 1.0
    assert "data used" in out and "search s" in out and "test acc" in out


# ---------------------------------------------------------------------------- errors
BAD_ARGUMENTS = {
    "unknown method": ["select", "magic", "--data", "digits", "--ratio", "0.5"],
    "ratio above one": ["select", "rs", "--data", "digits", "--ratio", "1.5"],
    "ratio zero": ["select", "rs", "--data", "digits", "--ratio", "0"],
    "ratio nan": ["select", "rs", "--data", "digits", "--ratio", "nan"],
    "ratio not a number": ["select", "rs", "--data", "digits", "--ratio", "half"],
    "missing npz file": ["select", "rs", "--data", "npz:/no/such/file.npz", "--ratio", "0.5"],
    "bad data spec": ["select", "rs", "--data", "mnist", "--ratio", "0.5"],
    "option of another method": ["select", "rs", "--data", "digits", "--ratio", "0.5", "--clusters", "5"],
    "missing ratio": ["select", "rs", "--data", "digits"],
    "bad output suffix": ["select", "rs", "--data", "digits", "--ratio", "0.5", "-o", "proxy.txt"],
    "output directory missing": [
        "select",
        "rs",
        "--data",
        "digits",
        "--ratio",
        "0.5",
        "-o",
        "/no/dir/p.json",
    ],
    "unknown command": ["frobnicate"],
    "no command": [],
    "ratio without proxy": ["search", "--data", "digits", "--ratio", "0.5"],
    "unknown algorithm": ["search", "--data", "digits", "--algo", "not-an-algorithm"],
    "zero epochs": ["search", "--data", "digits", "--epochs", "0"],
    "bdp interval one": ["search", "--data", "digits", "--bdp", "--bdp-interval", "1"],
    "bdp option without bdp": ["search", "--data", "digits", "--bdp-interval", "3"],
    "proxy without ratio": ["search", "--data", "digits", "--proxy", "cc-or"],
    "val fraction one": ["search", "--data", "digits", "--val-fraction", "1"],
    "table missing": ["search", "--data", "digits", "--table", "/no/such/table.csv"],
    "demo zero epochs": ["demo", "--epochs", "0", "--no-progress"],
}


@pytest.mark.parametrize("argv", list(BAD_ARGUMENTS.values()), ids=list(BAD_ARGUMENTS))
def test_bad_arguments_exit_nonzero_with_one_line(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxydata: error: ")
    assert "Traceback" not in err + out


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxydata: error: "), err
    assert "Traceback" not in err + out
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture()
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any start of real work (loading data, running the demo) fail the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started working before refusing its arguments")

    monkeypatch.setattr("proxydata.datasets.load_source", refuse)
    monkeypatch.setattr("proxydata.demo.run_demo", refuse)


@pytest.fixture()
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no CUDA, whatever machine runs the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


CUDA_REQUESTS = {
    "search --device": ["search", "--data", "digits", "--device", "cuda"],
    "search --proxy-device": [
        "search",
        "--data",
        "digits",
        "--proxy",
        "ae",
        "--ratio",
        "0.5",
        "--proxy-device",
        "cuda",
    ],
    "select ae --device": ["select", "ae", "--data", "digits", "--ratio", "0.5", "--device", "cuda:0"],
    "select km-or --device": ["select", "km-or", "--data", "digits", "--ratio", "0.5", "--device", "cuda"],
    "demo --device": ["demo", "--device", "cuda"],
}


@pytest.mark.parametrize("argv", list(CUDA_REQUESTS.values()), ids=list(CUDA_REQUESTS))
def test_a_cuda_device_without_cuda_is_refused_before_any_work(capsys, no_cuda, no_work, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, out, err, "cuda", "no cuda device is available")


def test_a_cuda_index_beyond_the_devices_and_a_bad_device_string_are_refused(
    capsys, monkeypatch, no_work
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, out, err = run(capsys, "search", "--data", "digits", "--device", "cuda:3")
    assert_one_line_error(code, out, err, "cuda:3", "1 cuda device(s)")
    code, out, err = run(capsys, "demo", "--device", "gpu0")
    assert_one_line_error(code, out, err, "'gpu0' is not a device")


def test_a_weights_file_that_is_not_a_state_dict_is_refused_before_any_work(
    capsys, tmp_path: Path, no_work
) -> None:
    text_file = tmp_path / "weights.pth"
    text_file.write_text("not a torch file\n")
    listed = tmp_path / "list.pth"
    torch.save([1, 2, 3], listed)
    tl = ["select", "tl", "--data", "digits", "--ratio", "0.5", "--weights-path"]
    for path, needle in ((text_file, "is not a torch state_dict file"), (listed, "holds a list")):
        code, out, err = run(capsys, *tl, str(path))
        assert_one_line_error(code, out, err, "--weights-path", str(path), needle)
    code, out, err = run(capsys, *tl, str(tmp_path / "missing.pth"))
    assert_one_line_error(code, out, err, "no such file")
    code, out, err = run(capsys, *tl, str(text_file), "--backbone", "scratch")
    assert_one_line_error(code, out, err, "--backbone resnet18")


def test_a_real_state_dict_passes_the_weights_check(tmp_path: Path) -> None:
    from proxydata.cli.checks import check_weights_file

    path = tmp_path / "w.pth"
    torch.save(torch.nn.Linear(2, 3).state_dict(), path)
    check_weights_file(str(path))  # no exception


def test_an_unwritable_output_is_refused_before_any_work(
    capsys, tmp_path: Path, monkeypatch, no_work
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    select = ["select", "rs", "--data", "digits", "--ratio", "0.5", "-o"]
    code, out, err = run(capsys, *select, str(a_file / "p.json"))
    assert_one_line_error(code, out, err, "is not a directory")
    (tmp_path / "taken.json").mkdir()
    code, out, err = run(capsys, "search", "--data", "digits", "-o", str(tmp_path / "taken.json"))
    assert_one_line_error(code, out, err, "is a directory")

    # a directory the process may not write in (what chmod 555 or a read-only mount gives)
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    for argv in ([*select, str(tmp_path / "p.json")], ["demo", "-o", str(tmp_path / "d.json")]):
        code, out, err = run(capsys, *argv)
        assert_one_line_error(code, out, err, "cannot write in", "Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_directory_is_refused(capsys, tmp_path: Path, no_work) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, out, err = run(
            capsys, "select", "rs", "--data", "digits", "--ratio", "0.5", "-o", f"{locked}/p.json"
        )
    finally:
        locked.chmod(0o755)
    assert_one_line_error(code, out, err, "cannot write in")


def test_bad_data_files_are_refused_before_loading(capsys, tmp_path: Path, no_work) -> None:
    not_npz = tmp_path / "x.npz"
    not_npz.write_text("hello")
    one_array = tmp_path / "one.npy"
    np.save(one_array, np.zeros(3))
    wrong_keys = tmp_path / "keys.npz"
    np.savez(wrong_keys, images=np.zeros((2, 4, 4)), labels=np.zeros(2))
    cases = {
        not_npz: "not an npz archive",
        one_array: "not an npz archive",
        wrong_keys: "lacks ['x_train', 'y_train']",
        tmp_path / "absent.npz": "no such file",
    }
    for path, needle in cases.items():
        code, out, err = run(capsys, "select", "rs", "--data", f"npz:{path}", "--ratio", "0.5")
        assert_one_line_error(code, out, err, needle)
    code, out, err = run(capsys, "select", "rs", "--data", f"cifar10:{tmp_path / 'none'}", "--ratio", "0.5")
    assert_one_line_error(code, out, err, "no folder", "--download")


def test_a_missing_optional_extra_is_one_line(capsys, monkeypatch, tmp_path: Path, no_work) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def without(name: str, *args: object) -> object:
        return None if name in ("torchvision", "faiss") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without)
    code, out, err = run(capsys, "select", "rs", "--data", f"cifar10:{tmp_path}", "--ratio", "0.5")
    assert_one_line_error(code, out, err, "torchvision", "pip install 'proxydata[vision]'")
    code, out, err = run(
        capsys, "select", "km-or", "--data", "digits", "--ratio", "0.5", "--backend", "faiss"
    )
    assert_one_line_error(code, out, err, "faiss", "proxydata[faiss]")


def test_options_apply_to_the_methods_whose_sampler_takes_them(capsys, no_work) -> None:
    code, out, err = run(capsys, "select", "cc-or", "--data", "digits", "--ratio", "0.5", "--clusters", "5")
    assert_one_line_error(code, out, err, "--clusters applies only to KM-OR, not to CC-OR")
    code, out, err = run(capsys, "search", "--data", "digits", "--proxy-epochs", "3")
    assert_one_line_error(code, out, err, "--proxy-epochs", "not to a search without --proxy")


def test_batch_options_follow_the_meaning_of_batch_size(capsys, monkeypatch) -> None:
    """--batch-size is a training batch (AE/TL); KM-OR/CC-OR's extraction batch has its own option."""
    code, out, err = run(capsys, "select", "cc-or", "--data", "digits", "--ratio", "0.5", "--batch-size", "8")
    assert_one_line_error(code, out, err, "--batch-size applies only to AE/TL, not to CC-OR")
    seen: dict[str, object] = {}

    def capture(method: str, dataset: object, **kwargs: object) -> None:
        seen.update(kwargs, method=method)
        raise KeyboardInterrupt  # stop here: only the keywords matter

    monkeypatch.setattr(proxydata.samplers, "make_proxy", capture)
    argv = ["select", "cc-or", "--data", "digits", "--ratio", "0.5", "--feature-batch-size", "8"]
    assert main(argv) == 130
    assert seen["method"] == "cc-or" and seen["feature_batch_size"] == 8 and "batch_size" not in seen
    argv = [
        "search",
        "--data",
        "digits",
        "--proxy",
        "km-or",
        "--ratio",
        "0.5",
        "--proxy-feature-batch-size",
        "9",
    ]
    monkeypatch.setattr("proxydata.experiment.make_proxy", capture)
    assert main(argv) == 130
    assert seen["method"] == "km-or" and seen["feature_batch_size"] == 9


def _raise(exc: BaseException):
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


SELECT_RS = ["select", "rs", "--data", "digits", "--ratio", "0.5", "--no-progress"]


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("boom"),
        ValueError("internal"),
        TypeError("internal"),
        OSError("internal"),
        ImportError("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unexpected_error_keeps_its_traceback(monkeypatch, exc: BaseException) -> None:
    # plain ValueError/TypeError/OSError/ImportError from inside are bugs, not usage errors
    monkeypatch.setattr(proxydata.samplers, "make_proxy", _raise(exc))
    with pytest.raises(type(exc)):
        main(SELECT_RS)


def test_an_error_of_the_proxydata_family_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(proxydata.samplers, "make_proxy", _raise(ProxydataValueError("ratio must be  good")))
    code, out, err = run(capsys, *SELECT_RS)
    assert_one_line_error(code, out, err, "proxydata: error: ratio must be good")


def test_an_interrupt_exits_130(capsys, monkeypatch) -> None:
    monkeypatch.setattr(proxydata.samplers, "make_proxy", _raise(KeyboardInterrupt()))
    code, _, err = run(capsys, *SELECT_RS)
    assert code == 130 and err.strip() == "proxydata: interrupted"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_exit_statuses_of_a_real_process() -> None:
    """As a process: a bug exits 1 with its traceback, a usage error 2 with one line."""
    bug = _python(
        "import sys, proxydata.samplers as s\n"
        "def boom(*a, **k): raise RuntimeError('an internal bug')\n"
        "s.make_proxy = boom\n"
        "from proxydata.cli import main\n"
        "sys.exit(main(['select', 'rs', '--data', 'digits', '--ratio', '0.5', '--no-progress']))\n"
    )
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "RuntimeError: an internal bug" in bug.stderr
    usage = _python(
        "import sys, torch\n"
        "torch.cuda.is_available = lambda: False\n"
        "from proxydata.cli import main\n"
        "sys.exit(main(['demo', '--device', 'cuda']))\n"
    )
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.strip().splitlines() == [
        "proxydata: error: --device cuda: no cuda device is available on this machine; use --device cpu"
    ]


def test_error_message_names_the_bad_value(capsys) -> None:
    _, _, err = run(capsys, "select", "rs", "--data", "digits", "--ratio", "1.5")
    assert "ratio" in err and "1.5" in err
    _, _, err = run(capsys, "select", "magic", "--data", "digits", "--ratio", "0.5")
    assert "'magic'" in err and "cc-or" in err


def test_the_parser_offers_every_registered_method_and_algorithm() -> None:
    """One definition each: the samplers' registry and proxydata.nas.ALGORITHMS."""
    from proxydata.cli import build_parser
    from proxydata.nas import ALGORITHMS
    from proxydata.samplers import registered_methods

    parser = build_parser()
    for method in registered_methods():
        args = parser.parse_args(["select", method.upper(), "--data", "digits", "--ratio", "1"])
        assert args.method == method
        args = parser.parse_args(["search", "--data", "digits", "--proxy", method, "--ratio", "1"])
        assert args.proxy == method
    for algo in ALGORITHMS:
        assert parser.parse_args(["search", "--data", "digits", "--algo", algo]).algo == algo


def test_help_and_version_exit_zero(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "select" in out and "search" in out and "demo" in out
    code, out, _ = run(capsys, "--version")
    import proxydata

    assert code == 0 and proxydata.__version__ in out


def test_installed_entry_point(tmp_path: Path) -> None:
    """The console script of pyproject.toml, as a user runs it."""
    exe = Path(sys.executable).with_name("proxydata")
    script = str(exe) if exe.exists() else shutil.which("proxydata")
    if script is None:
        pytest.skip("the proxydata entry point is not installed (pip install -e .)")
    out_file = tmp_path / "p.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            script,
            "select",
            "cc-rs",
            "--data",
            "digits",
            "--ratio",
            "0.2",
            "--seed",
            "1",
            "-o",
            str(out_file),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    m = sum(half_up(0.2 * c) for c in np.bincount(load_digits().targets))
    assert f"kept {m} of 1797 samples" in proc.stdout
    assert json.loads(out_file.read_text())["method"] == "cc-rs"
