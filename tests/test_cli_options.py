"""The command line offers what the Python API does (issue 30, item 3).

``select --backend numpy``, ``select --features FILE`` (memory-mapped) and
``select --indices FILE`` (a split); ``rank``'s proxy-method options
(``--clusters``, ``--backbone``/``--weights-path``, ``--proxy-epochs``, ...); help
text for every option, with the real defaults; an exact ``--train-size``; "1 epoch".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import proxydata
from proxydata.cli import main
from proxydata.cli.parser import build_parser
from proxydata.cli.rank_command import plural, stratified_exact
from proxydata.demo import DEMO_EPOCHS, DEMO_SCRATCH_EPOCHS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A features file of digits (one float32 row per image) and two index files of its halves."""
    folder = tmp_path_factory.mktemp("cli_files")
    data = proxydata.load_digits()
    n = len(data)
    features = np.stack([np.asarray(data[i][0], dtype=np.float32).ravel() for i in range(n)])
    np.save(folder / "features.npy", features)
    np.save(folder / "even.npy", np.arange(0, n, 2, dtype=np.int64))
    (folder / "odd.txt").write_text("# the odd images\n" + "\n".join(str(i) for i in range(1, n, 2)) + "\n")
    return {"features": folder / "features.npy", "even": folder / "even.npy", "odd": folder / "odd.txt"}


# ------------------------------------------------------------------------------------ select


def test_select_km_or_numpy_backend_memory_mapped_features_within_a_split(
    capsys, tmp_path: Path, digit_files
) -> None:
    out = tmp_path / "proxy.json"
    code, text, err = run(
        capsys,
        "select",
        "km-or",
        "--data",
        "digits",
        "--ratio",
        "0.5",
        "--backend",
        "numpy",
        "--clusters",
        "10",
        "--features",
        str(digit_files["features"]),
        "--indices",
        str(digit_files["even"]),
        "--no-progress",
        "-o",
        str(out),
    )
    assert code == 0, err
    split = np.load(digit_files["even"])
    assert f"kept 450 of {split.size} samples" in text  # round(0.5 * 899) = 450, of the split only
    saved = json.loads(out.read_text())
    assert set(saved["indices"]) <= set(split.tolist()) and len(saved["indices"]) == 450
    assert saved["split"] == split.tolist()
    assert saved["resolved"]["backend"] == "numpy" and saved["params"]["features"] == str(
        digit_files["features"]
    )


def test_select_reads_a_text_file_of_indices(capsys, digit_files) -> None:
    code, text, err = run(
        capsys, "select", "rs", "--data", "digits", "--ratio", "0.1", "--indices", str(digit_files["odd"])
    )
    assert code == 0, err
    assert "the 898 indices of" in text and "kept 90 of 898 samples" in text


@pytest.mark.parametrize(
    ("make", "flag", "message"),
    [
        (lambda d: str(d / "missing.npy"), "--features", "no such file"),
        (lambda d: str(d / "features.csv"), "--features", ".npy"),
        (lambda d: _save(d / "short.npy", np.zeros((5, 3), np.float32)), "--features", "has 5 rows"),
        (lambda d: _save(d / "flat.npy", np.zeros(1797, np.float32)), "--features", "shape (1797,)"),
        (lambda d: _save(d / "far.npy", np.array([0, 5000])), "--indices", "index 5000 is outside"),
        (lambda d: _save(d / "twice.npy", np.array([1, 1])), "--indices", "more than once"),
        (lambda d: _save(d / "floats.npy", np.array([1.5])), "--indices", "not 1-D integers"),
        (lambda d: _text(d / "words.txt", "1 two 3"), "--indices", "not whitespace-separated integers"),
    ],
)
def test_select_refuses_bad_files_in_one_line(capsys, tmp_path: Path, make, flag, message) -> None:
    path = make(tmp_path)
    method = "km-or" if flag == "--features" else "rs"
    code, out, err = run(capsys, "select", method, "--data", "digits", "--ratio", "0.5", flag, path)
    assert code == 2 and flag in err and message in err, err
    assert "Traceback" not in err and "kept" not in out


def _save(path: Path, array: np.ndarray) -> str:
    np.save(path, array)
    return str(path)


def _text(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_rank_spells_method_options_it_has_itself_with_proxy() -> None:
    # rank's own --seeds (training seeds), --epochs, --batch-size, --device stay rank's
    args = build_parser().parse_args(
        ["rank", "--quick", "--seeds", "3", "--proxy-seeds", "2", "--epochs", "4", "--proxy-epochs", "5"]
    )
    assert (args.seeds, args.n_seeds, args.epochs, args.proxy_epochs) == (3, 2, 4, 5)


def test_features_is_offered_by_select_only() -> None:
    # a features file has one row per sample of --data; search and rank build proxies on a part of it
    parser = build_parser()
    with pytest.raises(Exception, match="unrecognized arguments: --features"):
        parser.parse_args(["rank", "--quick", "--features", "f.npy"])


# ------------------------------------------------------------------------------------ rank


def test_rank_passes_method_options_to_the_methods_that_take_them(capsys, monkeypatch) -> None:
    import proxydata.samplers as samplers

    calls: list[tuple[str, dict]] = []
    real = samplers.make_proxy

    def recording(method, *args, **kwargs):
        calls.append((method, {k: v for k, v in kwargs.items() if k not in ("targets", "progress")}))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(samplers, "make_proxy", recording)
    code, text, err = run(
        capsys,
        *("rank", "--quick", "--methods", "rs", "km-or", "--sample", "3", "--seeds", "1", "--epochs", "1"),
        *(
            "--train-size",
            "100",
            "--bootstrap",
            "0",
            "--clusters",
            "4",
            "--backend",
            "numpy",
            "--no-progress",
        ),
    )
    assert code == 0, err
    by_method = {method: kwargs for method, kwargs in calls}
    assert by_method["km-or"]["n_clusters"] == 4 and by_method["km-or"]["backend"] == "numpy"
    assert "n_clusters" not in by_method["rs"] and "backend" not in by_method["rs"]
    # an exact pool, and singular nouns for one
    assert "training pool 100," in text and "1 epoch, 1 seed" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "rs", "--clusters", "5"], "--clusters applies only to KM-OR, none of --methods rs"),
        (["--methods", "rs", "cc-rs", "--proxy-epochs", "3"], "none of --methods rs cc-rs"),
        (["--methods", "tl", "--weights-path", "/nonexistent/w.pt"], "--weights-path: no such file"),
        (["--methods", "tl", "--backbone", "scratch", "--weights-path", "x.pt"], "--backbone resnet18"),
    ],
)
def test_rank_refuses_method_options_in_one_line(capsys, argv, message) -> None:
    code, out, err = run(capsys, "rank", "--quick", *argv)
    assert code == 2 and message in err, err
    assert "ranking" not in out


def test_rank_tl_without_local_weights_names_the_command_line_flags(capsys, monkeypatch, tmp_path) -> None:
    # torch.hub's cache moved to an empty folder: TL's ResNet-18 weights are not there
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    pytest.importorskip("torchvision")
    code, out, err = run(capsys, "rank", "--quick", "--methods", "tl")
    assert code == 2, err
    assert "--weights-path FILE" in err and "--backbone scratch" in err
    assert "weights_path=" not in err and "ranking" not in out


@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    share=st.floats(0.01, 1.0),
    seed=st.integers(0, 10),
)
def test_stratified_exact_keeps_exactly_k_in_proportion(counts: list[int], share: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    n = labels.size
    k = max(1, int(share * n))
    chosen = stratified_exact(labels, k, seed)
    assert chosen.size == k and np.unique(chosen).size == k and np.all(np.diff(chosen) > 0)
    got = np.bincount(labels[chosen], minlength=len(counts))
    exact = k * np.asarray(counts) / n
    assert np.all(np.abs(got - exact) < 1.0)  # each class within one of its proportional share


def test_stratified_exact_by_hand() -> None:
    # 10 classes of 3: k = 5 gives 0.5 each; the five remainders tie, the smaller ids win
    labels = np.repeat(np.arange(10), 3)
    got = np.bincount(labels[stratified_exact(labels, 5, 0)], minlength=10)
    assert got.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    # digits: the per-class rounding of split_indices gives 601 for 600; this gives 600
    targets = np.asarray(proxydata.load_digits().targets)
    assert stratified_exact(targets, 600, 0).size == 600


def test_plural() -> None:
    assert [plural(1, "epoch"), plural(2, "epoch"), plural(0, "seed")] == ["1 epoch", "2 epochs", "0 seeds"]


# ------------------------------------------------------------------------------------ help


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings)}"
        for name, sub in _subparsers(build_parser()).items()
        for action in sub._actions
        if action.option_strings and not action.help
    ]
    assert not missing, missing


def test_demo_help_prints_the_default_numbers() -> None:
    text = _subparsers(build_parser())["demo"].format_help()
    assert f"(default {DEMO_EPOCHS})" in " ".join(text.split())
    assert f"(default {DEMO_SCRATCH_EPOCHS})" in " ".join(text.split())
    assert "proxydata.demo" not in text


def test_select_offers_the_numpy_backend() -> None:
    args = build_parser().parse_args(
        ["select", "km-or", "--data", "digits", "--ratio", "0.5", "--backend", "numpy"]
    )
    assert args.backend == "numpy"
    json.dumps(vars(args))  # plain values only
