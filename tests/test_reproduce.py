"""benchmarks/reproduce.py: the quick grid end to end (issue 6), its arguments, the records' provenance."""

from __future__ import annotations

import csv
import gzip
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from proxydata.experiment import data_used

REPO = Path(__file__).resolve().parents[1]


def _load_module(name: str):
    """A module of benchmarks/: ``reproduce`` from its file, the others (``report.tables``...) by name."""
    if name != "reproduce":
        if str(REPO / "benchmarks") not in sys.path:
            sys.path.insert(0, str(REPO / "benchmarks"))
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(path: Path) -> dict[str, dict[str, str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return {row["arch_str"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_quick_grid_records_match_the_table(shared_data_dir: Path, tmp_path: Path) -> None:
    reproduce = _load_module("reproduce")
    out = tmp_path / "quick.jsonl"
    args = ["--quick", "--out", str(out), "--data-dir", str(shared_data_dir)]
    assert reproduce.main(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # --quick: full, bdp with and without the class limit, rs and cc-or at r = 0.5 (DARTS-V1, seed 0)
    assert sorted(r["method"] for r in records) == ["bdp", "bdp", "cc-or", "full", "rs"]
    assert sorted(r["options"]["bdp"]["limit"] for r in records if r["method"] == "bdp") == ["none", "ours"]
    assert all(r["protocol"] == 2 and r["key"].startswith("v2|") for r in records)
    table = _table(shared_data_dir / "nb201_accuracies.csv.gz")
    for rec in records:
        assert rec["genotype"] in table, rec["genotype"]
        row = table[rec["genotype"]]
        for column, value in rec["accuracies"].items():
            assert value == pytest.approx(float(row[column]), abs=1e-9)
        assert len(rec["genotypes"]) == 3
    by_method = {r["method"]: r for r in records}
    assert data_used(by_method["full"]) == 1.0
    pool = by_method["full"]["train_pool"]
    assert abs(pool - 256) <= 5  # stratified: per-class rounding may move the total slightly
    assert by_method["full"]["kept_train"] == pool
    assert by_method["rs"]["kept_train"] == (pool + 1) // 2  # round(0.5 * pool), halves up
    # a second call finds every run done and appends nothing
    assert reproduce.main(args) == 0
    assert len(out.read_text().splitlines()) == len(records)
    assert (tmp_path / "quick_split.npz").exists()


def test_report_numbers_come_from_the_records(tmp_path: Path) -> None:
    tables = _load_module("report.tables")
    claims = _load_module("report.claims_static")
    page = _load_module("report.page")
    ops = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    base = {
        "scale": "s",
        "kept_train": 10,
        "val_size": 10,
        "train_sizes": [10],
        "val_sizes": [10],
        "genotype": ops,
    }
    records = [
        {
            **base,
            "algo": "darts-v1",
            "method": "full",
            "ratio": 1.0,
            "seed": 0,
            "search_seconds": 100.0,
            "accuracies": {
                "cifar10_test_200ep": 90.0,
                "cifar100_test_200ep": 70.0,
                "imagenet16_test_200ep": 40.0,
            },
        },
        {
            **base,
            "algo": "darts-v1",
            "method": "full",
            "ratio": 1.0,
            "seed": 1,
            "search_seconds": 100.0,
            "accuracies": {
                "cifar10_test_200ep": 92.0,
                "cifar100_test_200ep": 70.0,
                "imagenet16_test_200ep": 40.0,
            },
        },
        {
            **base,
            "algo": "darts-v1",
            "method": "rs",
            "ratio": 0.5,
            "seed": 0,
            "search_seconds": 52.0,
            "accuracies": {
                "cifar10_test_200ep": 93.0,
                "cifar100_test_200ep": 71.0,
                "imagenet16_test_200ep": 41.0,
            },
        },
    ]
    table = "\n".join(tables.method_table(records, "darts-v1"))
    assert "| full | 1 | v1 | 2 | 91.00 ± 1.00 |" in table  # mean and population std of 90 and 92
    text = "\n".join(page.render_all(claims.static_claims(records)))
    assert "r=0.5: 0.520" in text  # 52 s / 100 s
    assert "1 of 1 cells beat it on the mean" in text
    assert "**insufficient seeds: 1 of 8** — on the means: holds" in text  # one seed: not decided


def test_committed_results_are_real_cells_with_the_tables_accuracies(shared_data_dir: Path) -> None:
    """Every committed run found a NAS-Bench-201 cell, and its recorded accuracies are the table's."""
    results = REPO / "benchmarks" / "results" / "reproduction.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    assert records
    table = _table(shared_data_dir / "nb201_accuracies.csv.gz")
    for rec in records:
        assert rec["genotype"] in table, (rec["key"], rec["genotype"])
        assert rec["genotype"] == rec["genotypes"][-1]
        row = table[rec["genotype"]]
        for column, value in rec["accuracies"].items():
            assert value == pytest.approx(float(row[column]), abs=1e-9), (rec["key"], column)
    v2 = [r for r in records if r.get("protocol") == 2]
    assert all(r["key"].startswith("v2|") for r in v2)
    assert len({r["key"] for r in records}) == len(records)  # one line per run


def test_v2_keys_carry_every_setting() -> None:
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(
        ["--grid", "paper", "paper14", "beta", "criteria", "balance", "aug", "v2proxy"]
    )
    grid = reproduce.build_grid(args)
    keys = [reproduce.run_key(r) for r in grid]
    assert len(set(keys)) == len(keys)  # different schedules, criteria, limits, splits coexist
    assert any("T2 p0.1067/0.1067 high/low limit=ours" in k for k in keys)
    assert any("limit=linear split=lt10" in k for k in keys)
    assert any("augment=2" in k for k in keys)
    assert any(k.split("|")[2] == "beta-darts" and "beta=25.0" in k for k in keys)
    v1 = {"scale": "s", "algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": 0}
    assert reproduce.run_key(v1) == "s|darts-v1|bdp|1.00|0"  # v1 records keep their keys


def test_table_suites_keys_carry_split_sizes_score_and_schedule() -> None:
    """BDP's Tables 1-3 as the paper designed them (issue 27): every setting in its key, each run once."""
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(["--grid", "table1", "table2", "table3", "enas", "once", "--seeds", "0",
                                 "--pool-size", "1000", "--val-size", "1000"])  # fmt: skip
    keys = [reproduce.run_key(r) for r in reproduce.build_grid(args)]
    assert len(set(keys)) == len(keys)
    # Table 1: the five train : val ratios of the 2,000 search images; 5:5 is the plain run
    for sizes in ("200+1800", "600+1400", "1400+600", "1800+200"):
        assert sum(k.endswith(f"|full|1.00|0|sizes={sizes}") for k in keys) == 1
    assert sum(k.endswith("|darts-v1|full|1.00|0|") for k in keys) == 1
    # Table 2: 50 % once by EL2N (9 steps x 0.0556 at 20 epochs, T = 2), the four criteria, no limit
    for crit in ("low/low", "low/high", "high/low", "high/high"):
        assert sum(f"T2 p0.0556/0.0556 {crit} limit=none score=el2n pruning=once" in k for k in keys) == 1
    # Table 3: 4 criteria x 5 ratio combinations without the limit
    table3 = [k for k in keys if "|bdp|" in k and "score=" not in k and "limit=none" in k]
    combos = [("0.1067", "0.1067"), ("0.1067", "0.0956"), ("0.0956", "0.1067"), ("0.0956", "0.0956"),
              ("0.1011", "0.1011")]  # fmt: skip
    for pt, pv in combos:
        for crit in ("low/low", "low/high", "high/low", "high/high"):
            assert sum(f"T2 p{pt}/{pv} {crit} limit=none" in k for k in table3) == 1, (pt, pv, crit)
    assert len(table3) == 20
    # ENAS: full data and 6 proxies x 2 ratios, the controller settings in the key
    enas = [k for k in keys if "|enas|" in k]
    assert len(enas) == 13 and all(k.endswith("reinforce=s4a1") for k in enas)
    # the ablation keeps the one-shot-vs-progressive comparison under its own suite
    for p in ("0.1067", "0.0956"):
        assert sum(f"T2 p{p}/{p} low/high limit=ours score=el2n pruning=once" in k for k in keys) == 1
    # the defaults leave the keys of earlier runs unchanged
    suites = _load_module("suites")
    assert "score" not in suites._bdp(0.1) and "pruning" not in suites._bdp(0.1, score="voe")
    assert suites.table2_ratio(20) == 0.0556 and suites.table2_ratio(5) == 0.25


def test_grid_is_seed_major() -> None:
    """Seed 0 of every suite before any seed 1 run: a grid stopped early grows every setting evenly."""
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(["--grid", "table1", "enas", "--seeds", "0", "1"])
    seeds = [r["seed"] for r in reproduce.build_grid(args)]
    assert seeds == sorted(seeds) and seeds.count(0) == seeds.count(1) == 5 + 13


@pytest.mark.slow
def test_table_suites_run_at_quick_scale(shared_data_dir: Path, tmp_path: Path) -> None:
    """A smoke run of Tables 1 and 2 at --quick scale: the split sizes and the one-shot mode arrive."""
    reproduce = _load_module("reproduce")
    out = tmp_path / "tables.jsonl"
    args = ["--quick", "--grid", "table1", "table2", "--hessian", "0", "--epochs", "5", "--out", str(out),
            "--data-dir", str(shared_data_dir)]  # fmt: skip
    assert reproduce.main(args) == 0
    records = {r["key"].split("|", 6)[-1]: r for r in map(json.loads, out.read_text().splitlines())}
    small, large = records["sizes=51+461"], records["sizes=461+51"]  # 1:9 and 9:1 of 256 + 256
    assert abs(small["train_pool"] - 51) <= 5 and abs(small["val_size"] - 461) <= 5
    assert abs(large["train_pool"] - 461) <= 5 and abs(large["val_size"] - 51) <= 5
    # 5 epochs, T = 2: 2 progressive steps, so p = 0.25 and the one step after epoch 2 prunes 50 %
    once = records["T2 p0.25/0.25 low/high limit=none score=el2n pruning=once"]
    assert once["config"]["bdp_kwargs"]["score"] == "el2n"
    assert once["config"]["bdp_kwargs"]["pruning"] == "once"
    assert once["config"]["bdp_kwargs"]["class_balance"] is False
    assert (
        once["train_sizes"][2]
        == once["final_train"]
        == once["train_pool"] - 2 * round(0.25 * once["train_pool"])
    )


def test_linear_limit_and_long_tailed_split() -> None:

    reproduce = _load_module("reproduce")
    counts = np.array([100, 50, 10])
    assert reproduce.linear_limits(counts, 4, 1.0).tolist() == [100, 50, 10]
    assert reproduce.linear_limits(counts, 4, 0.0).tolist() == [25, 12, 2]
    assert reproduce.linear_limits(counts, 4, 0.5).tolist() == [62, 31, 6]  # n · (0.5 + 0.5 / 4)
    labels = np.repeat(np.arange(10), 100)
    lt = reproduce.long_tailed(np.arange(1000), labels, 10.0, seed=0)
    per_class = np.bincount(labels[lt], minlength=10)
    assert per_class[0] == 100 and per_class[9] == 10
    assert per_class.tolist() == sorted(per_class.tolist(), reverse=True)
    assert np.array_equal(lt, reproduce.long_tailed(np.arange(1000), labels, 10.0, seed=0))


# ---------------------------------------------------------------- arguments (issue 19, item 15)


def test_quick_keeps_explicit_options() -> None:
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(["--quick"])
    assert (args.epochs, args.ratios, args.grid, args.pool_size) == (3, [0.5], ["full", "bdp", "proxy"], 256)
    args = reproduce.parse_args(["--quick", "--epochs", "5", "--grid", "full", "--ratios", "0.25", "0.75"])
    assert (args.epochs, args.grid, args.ratios) == (5, ["full"], [0.25, 0.75])  # explicit values win
    assert (args.pool_size, args.seeds, args.algos) == (256, [0], ["darts-v1"])  # the rest is quick


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard", "1/0"], "0 <= i < k"),
        (["--shard", "2/1"], "0 <= i < k"),
        (["--shard=-1/2"], "0 <= i < k"),
        (["--shard", "a/b"], "'auto' or 'i/k'"),
        (["--threads", "0"], "--threads: must be an integer >= 1"),
        (["--ratios", "0.5", "1.5"], "--ratios: must be a number with 0 < value <= 1"),
        (["--ratios", "0"], "--ratios"),
        (["--ratios", "nan"], "--ratios"),
        (["--bdp-ratio", "1"], "--bdp-ratio: must be a number with 0 < value < 1"),
        (["--grid", "bdp", "--bdp-ratio", "0.5"], "would prune every sample"),
        (["--epochs", "0"], "--epochs"),
        (["--verify", "2", "--report"], "--verify cannot be combined with --report"),
        (["--verify", "2", "--verify-keys", "k"], "not both"),
        (["--verify-epochs", "1"], "needs --verify"),
        (["--seed", "3"], "the runs' seeds are --seeds"),
    ],
)
def test_bad_arguments_exit_2_before_any_data(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reproduce = _load_module("reproduce")
    monkeypatch.setattr(reproduce, "load_protocol_data", lambda *a: pytest.fail("data read"))
    with pytest.raises(SystemExit) as exc:
        reproduce.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_shards_partition_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reproduce = _load_module("reproduce")
    base = ["--grid", "paper", "--dry-run", "--out", str(tmp_path / "r.jsonl")]
    shards = []
    for i in range(3):
        assert reproduce.main([*base, "--shard", f"{i}/3"]) == 0
        shards.append(capsys.readouterr().out.splitlines()[1:])
    keys = [k for shard in shards for k in shard]
    assert all(shards) and len(keys) == len(set(keys)) == 9  # 3 runs x 3 seeds, each in one shard


def test_missing_data_is_reported_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reproduce = _load_module("reproduce")
    code = reproduce.main(["--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path / "r.jsonl")])
    assert code == 2 and "shared data not found" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


# ---------------------------------------------------------------- provenance and --verify


def _series(loss: list[float], genotype: str = "g") -> dict:
    return {"train_loss": loss, "val_loss": [x + 0.1 for x in loss], "train_acc": [0.1] * len(loss),
            "val_acc": [0.1] * len(loss), "genotype": genotype,
            "genotypes": [f"{genotype}{i}" for i in range(len(loss) - 1)] + [genotype]}  # fmt: skip


def test_compare_runs_verdicts_and_first_parting_epoch() -> None:
    prov = _load_module("provenance")
    old = _series([2.0, 1.5, 1.2])
    same = prov.compare_runs(old, _series([2.0, 1.5, 1.2]))
    assert same["verdict"] == "bit-identical" and same["first_parting_epoch"] is None
    drift = prov.compare_runs(old, _series([2.0, 1.5000001, 1.2]))
    assert drift["verdict"] == "same genotype" and drift["first_parting_epoch"] == 2
    assert drift["series_differ"] == ["train_loss", "val_loss"]
    other = prov.compare_runs(old, _series([2.0000001, 1.5, 1.2], genotype="h"))
    assert other["verdict"] == "different" and other["first_parting_epoch"] == 1
    assert other["genotypes"] == ("g", "h")
    # A re-run stopped after one epoch is judged on that epoch (and the genotype found after it).
    early = prov.compare_runs(old, _series([2.0], genotype="g0"), epochs=1)
    assert early["verdict"] == "bit-identical" and early["first_losses"] == ((2.0, 2.0), (2.1, 2.1))
    text = prov.format_comparison("k", other, ["cpu_model: A -> B"], None)
    assert "verdict over all epochs: different" in text and "first part at epoch 1" in text
    assert "    cpu_model: A -> B" in text


def test_environment_records_what_decides_the_floating_point() -> None:
    prov = _load_module("provenance")
    env = prov.environment(REPO)
    fields = ("cpu_model", "torch_threads", "torch_interop_threads", "build_onednn", "build_blas",
              "thread_pools", "deterministic_algorithms", "cudnn_deterministic",
              "proxydata_path")  # fmt: skip
    for field in fields:
        assert field in env, field
    assert env["proxydata_path"] == str(REPO / "proxydata")
    assert set(env["git"]) == {"commit", "dirty", "diff_sha256"}
    old = dict(env, cpu_model="Other CPU", git=dict(env["git"], commit="0" * 40))
    diff = prov.environment_diff(old, env)
    assert diff == [
        f"cpu_model: Other CPU -> {env['cpu_model']}",
        f"git.commit: {'0' * 40} -> {env['git']['commit']}",
    ]
    assert prov.environment_diff(None, env) == [
        "the record has no environment (made before records carried one)"
    ]


def test_git_state_marks_uncommitted_code(tmp_path: Path) -> None:
    import subprocess

    prov = _load_module("provenance")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "proxydata").mkdir()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "proxydata" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = prov.git_state(tmp_path)
    assert clean["dirty"] is False and clean["diff_sha256"] is None and len(clean["commit"]) == 40
    (tmp_path / "benchmarks" / "results" / "r.jsonl").write_text("{}\n")  # results are data, not code
    assert prov.git_state(tmp_path)["dirty"] is False
    (tmp_path / "proxydata" / "a.py").write_text("x = 2\n")
    first = prov.git_state(tmp_path)
    assert first["dirty"] is True and first["diff_sha256"]
    (tmp_path / "benchmarks" / "new.py").write_text("y = 1\n")  # an untracked file changes the digest
    assert prov.git_state(tmp_path)["diff_sha256"] != first["diff_sha256"]
    assert prov.code_version(first) == first["commit"][:7] + "+dirty"


def test_verify_rebuilds_the_recorded_config(monkeypatch: pytest.MonkeyPatch) -> None:
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(["--verify", "1"])
    bdp = {"interval": 2, "train_ratio": 0.1, "val_ratio": 0.1, "train_criterion": "low",
           "val_criterion": "high", "limit": "linear"}  # fmt: skip
    config = {"algo": "darts-v1", "epochs": 3, "C": 4, "N": 1, "batch_size": 8, "seed": 5, "device": "cpu",
              "bdp": True, "bdp_kwargs": {"interval": 2, "class_balance": True}}  # fmt: skip
    record = {"key": "k", "config": config, "options": {"bdp": bdp}}
    rebuilt = reproduce.config_of(record, args)
    assert (rebuilt.algo, rebuilt.epochs, rebuilt.seed, rebuilt.batch_size) == ("darts-v1", 3, 5, 8)
    assert rebuilt.bdp_kwargs["limit_fn"] is reproduce.linear_limits  # named by the label, not stored
    with pytest.raises(SystemExit, match="unknown to this code"):
        reproduce.config_of({"key": "k", "config": {**config, "from_the_future": 1}}, args)
    records = {f"k{i}": {"key": f"k{i}"} for i in range(10)}
    picked = [r["key"] for r in reproduce.pick_records(records, reproduce.parse_args(["--verify", "3"]))]
    assert len(set(picked)) == 3
    assert picked == [
        r["key"] for r in reproduce.pick_records(records, reproduce.parse_args(["--verify", "3"]))
    ]
    other = reproduce.parse_args(["--verify", "3", "--seed", "1"])
    assert picked != [r["key"] for r in reproduce.pick_records(records, other)]


def test_verify_names_the_code_that_changed_since_a_record() -> None:
    """--verify's code report: the record's commit against this checkout, or why it cannot say."""
    reproduce = _load_module("reproduce")
    assert reproduce.code_change(None, "abc1234")[1].endswith("the code that made it is unknown")
    assert "is not in this repository" in reproduce.code_change("0000000", "abc1234")[1]
    dirty = reproduce.code_change("0000000+dirty", "abc1234")
    assert dirty[0] == "code: 0000000+dirty -> abc1234" and "uncommitted changes" in dirty[1]
