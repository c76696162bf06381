"""Reproduce the two papers' findings at CPU scale on real CIFAR-10 (issue 6).

Protocol (every value an option): CIFAR-10 16x16 from ``shared/data``; the search
training pool is a stratified sample of NAS-Bench-201's ``cifar10valid_train``
half and the search validation set a stratified sample of its
``cifar10valid_valid`` half (sizes ``--pool-size``/``--val-size``, 1,000 each by
default, seed ``--split-seed``; the indices are saved next to the results).
Supernet C=8, N=1, batch 64, 20 epochs. The found genotype is scored by its
NAS-Bench-201 200-epoch test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120.
The default scale is 1,000 + 1,000 images (it was 5,000 + 5,000 until issue 27:
130-280 s a run on the shared 2-core machine, too slow for 8 seeds of every
setting); the scale is part of every run key.

Runs (``--grid``), built seed-major (seed 0 of every suite, then seed 1, ...):

* ``full``  — every algorithm on the whole pool;
* ``proxy`` — every static proxy at every ratio, for every algorithm;
* ``bdp``   — DARTS-V1 + BiLevelPruner (``--bdp-ratio`` per step), with and
  without the class-balance limit;
* the suites of ``suites.SUITES``: BDP's Tables 1-3 as the paper designed them —
  ``table1`` (full-data DARTS-V1 at train : val 1:9, 3:7, 5:5, 7:3, 9:1 of a fixed
  total, ``sizes=<a>+<b>``), ``table2`` (50 % of each split pruned once by EL2N,
  the four high/low criteria, no class limit, and plain DARTS), ``table3`` (the
  four criteria at five pruning-ratio combinations, no class limit); ``enas``
  (*Less is More*'s Table 3: ENAS on full data and the six proxies at r = 0.25,
  0.5); ``pcdarts`` (PC-DARTS full data vs BDP to 4 %); issue 12's ``paper``,
  ``paper14``, ``beta``, ``criteria``, ``balance``, ``aug``, ``v2proxy``; and the
  ablation ``once`` (one-shot EL2N vs progressive VoE, not a paper table).
  Verdicts need 8 seeds (``--seeds 0 1 2 3 4 5 6 7``).

One JSON line per finished run is appended to ``--out`` at once; runs already in
the file are skipped, so a grid can be stopped and continued. ``--shard auto``
lets any number of processes share the grid through claim files (a run is
taken by the first process that claims it; claims of dead processes are taken
over); ``--shard i/k``
splits the grid between k processes writing to the same file.

Examples
--------
    python benchmarks/reproduce.py --quick --out /tmp/quick.jsonl
    python benchmarks/reproduce.py --seeds 0 1 2 --out benchmarks/results/reproduction.jsonl
    python benchmarks/reproduce.py --report      # regenerate docs/results.md
    python benchmarks/reproduce.py --verify 2 --seed 0   # re-run two records drawn at random

``--verify K`` re-runs K records of ``--out`` drawn with ``numpy.random.default_rng(--seed)``
(``--verify-keys`` names them instead; ``--verify-epochs E`` stops each re-run after E
epochs) from the configuration each record stored, and prints per record
``bit-identical`` / ``same genotype`` / ``different``, the first epoch at which the
losses part, the environment fields that differ (``provenance.compare_runs``) and,
when the record names another commit, the files of ``proxydata/`` and of the runner
that changed since (:func:`code_change`).
Every argument is checked before any data is read (exit code 2 on a bad one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# This checkout's proxydata and benchmark modules first: a record names the code of
# this checkout, so it must not run a proxydata installed from another one.
for _path in (str(HERE), str(REPO)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import code_version, compare_runs, environment, environment_diff, format_comparison  # noqa: E402
from suites import (  # noqa: E402
    GRID_DEFAULTS,
    LIMIT_FNS,
    METHODS,
    SUITES,
    build_grid,
    linear_limits,
    long_tailed,
    options_label,
    parse_reinforce,
    run_key,
    suite_runs,
)

from proxydata.nas import ALGORITHMS  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "reproduction.jsonl"
ALGOS = ("darts-v1", "gdas")
TABLE_COLUMNS = ("cifar10_test_200ep", "cifar100_test_200ep", "imagenet16_test_200ep")
#: Re-exported for callers of the runner (the grid lives in ``suites``).
__all__ = ["build_grid", "linear_limits", "long_tailed", "options_label", "run_key", "suite_runs"]


def shared_data_dir() -> Path | None:
    """``$PROXYDATA_SHARED_DATA`` or ``<repo>/../shared/data`` if it exists."""
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def stratified_sample(pool: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` indices of ``pool`` with the class proportions of the pool (sorted)."""
    from proxydata.data import split_indices

    if size >= pool.size:
        return np.sort(pool)
    first, _ = split_indices(pool.size, size / pool.size, seed=seed, stratify=labels[pool])
    return np.sort(pool[first])


def load_protocol_data(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray]:
    """The dataset and the two search splits of the protocol."""
    from proxydata.datasets import ArrayDataset

    data_dir = Path(args.data_dir) if args.data_dir else shared_data_dir()
    if data_dir is None:
        raise SystemExit("shared data not found: pass --data-dir or set PROXYDATA_SHARED_DATA")
    name = "cifar10_16x16.npz" if args.resolution == 16 else "cifar10.npz"
    with np.load(data_dir / name) as z:
        x, y = z["x_train"], z["y_train"].astype(np.int64)
    with np.load(data_dir / "nb201_splits.npz") as z:
        train_half, valid_half = (
            z["cifar10valid_train"].astype(np.int64),
            z["cifar10valid_valid"].astype(np.int64),
        )
    split_file = Path(args.out).with_name(Path(args.out).stem + "_split.npz")
    settings = np.array([args.pool_size, args.val_size, args.split_seed])
    if split_file.exists():  # a continued grid keeps the split its first runs used
        with np.load(split_file) as z:
            train_idx, val_idx = z["train"].astype(np.int64), z["val"].astype(np.int64)
            saved = z["settings"] if "settings" in z.files else settings
        if not np.array_equal(saved, settings):
            raise SystemExit(
                f"{split_file} was made with pool/val/seed {saved.tolist()}, not {settings.tolist()}"
            )
    else:
        train_idx = stratified_sample(train_half, y, args.pool_size, args.split_seed)
        val_idx = stratified_sample(valid_half, y, args.val_size, args.split_seed + 1)
        np.savez_compressed(split_file, train=train_idx, val=val_idx, settings=settings)
    return ArrayDataset(x, y), train_idx, val_idx


def split_name(options: dict[str, Any]) -> str:
    """A run's search split: ``lt<factor>`` (long-tailed), ``sizes=<a>+<b>`` (Table 1), ``balanced``."""
    if "split" in options:
        return str(options["split"])
    if "sizes" in options:
        return f"sizes={options['sizes']}"
    return "balanced"


def sized_split(dataset: Any, args: argparse.Namespace, sizes: str) -> tuple[np.ndarray, np.ndarray]:
    """Table 1's split ``<a>+<b>``: stratified samples of a and b images of the protocol's two halves.

    Drawn as the protocol's own split is (``--split-seed`` and ``--split-seed + 1``), so
    ``5000+5000`` gives the split of a new results file.
    """
    a, b = (int(v) for v in sizes.split("+"))
    data_dir = Path(args.data_dir) if args.data_dir else shared_data_dir()
    if data_dir is None:
        raise SystemExit("shared data not found: pass --data-dir or set PROXYDATA_SHARED_DATA")
    with np.load(data_dir / "nb201_splits.npz") as z:
        train_half, valid_half = (
            z["cifar10valid_train"].astype(np.int64),
            z["cifar10valid_valid"].astype(np.int64),
        )
    labels = np.asarray(dataset.targets, dtype=np.int64)
    return (
        stratified_sample(train_half, labels, a, args.split_seed),
        stratified_sample(valid_half, labels, b, args.split_seed + 1),
    )


def run_splits(
    runs: list[dict[str, Any]],
    dataset: Any,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every search split ``runs`` need, by :func:`split_name` (long-tailed only at ``--lt-factor``)."""
    splits = {"balanced": (train_idx, val_idx)}
    for run in runs:
        name = split_name(run.get("options") or {})
        if name in splits:
            continue
        if name.startswith("sizes="):
            splits[name] = sized_split(dataset, args, name.split("=", 1)[1])
        elif name == f"lt{args.lt_factor:g}":
            splits[name] = long_tailed_splits(dataset, train_idx, val_idx, args)
    return splits


def done_keys(path: Path) -> set[str]:
    """Keys of the runs already in ``path`` (none when it does not exist)."""
    if not path.exists():
        return set()
    keys = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                keys.add(json.loads(line)["key"])
    return keys


def claim_run(out: Path, run: dict[str, Any]) -> Path | None:
    """Claim ``run`` for this process; None when a live process holds it."""
    claims = out.with_suffix(".claims")
    claims.mkdir(exist_ok=True)
    path = claims / run_key(run).replace("|", "__").replace("/", "_")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            holder = int(path.read_text() or "0")
            os.kill(holder, 0)
            return None  # a live process runs it
        except (ValueError, ProcessLookupError):
            path.write_text(str(os.getpid()))  # its process died: take it over
            return path
        except PermissionError:
            return None
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    return path


def proxy_kwargs(method: str, args: argparse.Namespace) -> dict[str, Any]:
    """Method settings of the protocol (reduced epochs for AE/TL at CPU scale)."""
    if method == "km-or":
        return {"n_clusters": args.clusters}
    if method == "ae":
        return {"epochs": args.ae_epochs}
    if method == "tl":
        return {"backbone": "scratch", "epochs": args.tl_epochs, "score_epoch": args.tl_epochs}
    return {}


def controller_entropy(out: list[float]) -> Any:
    """A search callback appending ENAS's sampling entropy after every epoch to ``out``.

    ``EnasController.sampling_entropy`` (64 draws from its own generator): the
    search's random streams are untouched, so the run is the same with or without it.
    """

    def record(epoch: int, result: Any, net: Any) -> bool:
        out.append(round(net.controller.sampling_entropy(), 6))
        return False

    return record


def execute(
    run: dict[str, Any],
    dataset: Any,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
    table: Any,
) -> dict[str, Any]:
    """Run one grid run (its identity ``run``) and return its record, environment included."""
    from proxydata.experiment import SearchConfig, run_search

    method, opts = run["method"], run.get("options", {})
    train_idx, val_idx = splits[split_name(opts)]
    config = SearchConfig(
        algo=run["algo"],
        epochs=args.epochs,
        C=args.C,
        N=args.N,
        batch_size=args.batch_size,
        seed=run["seed"],
        device=args.device,
        progress=args.progress,
        augment_padding=opts.get("augment"),
        hessian_samples=opts.get("hessian", 0),
        hessian_iterations=args.hessian_iterations,
    )
    if "beta" in opts:
        config.search_kwargs = {"beta_lambda_max": float(opts["beta"])}
    if "reinforce" in opts:  # ENAS's controller settings (suites.ENAS_REINFORCE)
        config.network_kwargs = {"reinforce": parse_reinforce(opts["reinforce"])}
    if method in METHODS:
        config.proxy = method
        config.ratio = float(run["ratio"])
        config.proxy_kwargs = proxy_kwargs(method, args)
    elif method == "bdp":
        bdp = opts["bdp"]
        config.bdp = True
        config.bdp_kwargs = {
            "interval": bdp["interval"],
            "train_prune_ratio": bdp["train_ratio"],
            "val_prune_ratio": bdp["val_ratio"],
            "train_criterion": bdp["train_criterion"],
            "val_criterion": bdp["val_criterion"],
            "class_balance": bdp["limit"] != "none",
            **{k: bdp[k] for k in ("score", "pruning") if k in bdp},  # one-shot EL2N (Table 2)
        }
        if LIMIT_FNS.get(bdp["limit"]) is not None:
            config.bdp_kwargs["limit_fn"] = LIMIT_FNS[bdp["limit"]]
    torch.manual_seed(run["seed"])
    entropy: list[float] = []
    callbacks = (controller_entropy(entropy),) if run["algo"] == "enas" else ()
    record = run_search(dataset, train_idx, val_idx, config, table=table, callbacks=callbacks).to_dict()
    if entropy:
        record["controller_entropy"] = entropy
    record["config"]["bdp_kwargs"].pop("limit_fn", None)  # a function: the label names it
    record.update(run)
    record["key"] = run_key(run)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    env = environment(REPO)
    record["torch_threads"] = torch.get_num_threads()
    record["code"] = code_version(env["git"])
    record["environment"] = env
    return record


def check_package() -> str | None:
    """Why this process must not run searches: its ``proxydata`` is not this checkout's (or None)."""
    import proxydata

    path = Path(proxydata.__file__).resolve().parent
    if path != REPO / "proxydata":
        return (
            f"proxydata is imported from {path}, not from this checkout ({REPO / 'proxydata'}): "
            "a record would name code that did not run"
        )
    return None


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The records of ``path`` by key (the first line of a key, should one appear twice)."""
    records: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                records.setdefault(rec["key"], rec)
    return records


def pick_records(records: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--verify-keys`` in order, or ``--verify`` K records drawn with ``default_rng(--seed)``."""
    keys = list(records)
    if args.verify_keys:
        missing = [k for k in args.verify_keys if k not in records]
        if missing:
            raise SystemExit(f"--verify-keys: not in {args.out}: {missing}")
        return [records[k] for k in args.verify_keys]
    if args.verify > len(keys):
        raise SystemExit(f"--verify {args.verify}: {args.out} holds only {len(keys)} runs")
    rng = np.random.default_rng(args.seed or 0)
    return [records[keys[i]] for i in rng.choice(len(keys), size=args.verify, replace=False)]


def config_of(record: dict[str, Any], args: argparse.Namespace) -> Any:
    """The :class:`~proxydata.experiment.SearchConfig` a record ran with, rebuilt from its ``config``.

    The class limit's function (``limit=linear``), which the record names but
    cannot store, comes from :data:`suites.LIMIT_FNS`. A record with config fields
    this code does not know cannot be re-run here (an error, not a guess).
    """
    from dataclasses import fields

    from proxydata.experiment import SearchConfig

    stored = dict(record["config"])
    unknown = sorted(set(stored) - {f.name for f in fields(SearchConfig)})
    if unknown:
        raise SystemExit(f"{record['key']}: config fields unknown to this code: {unknown}")
    stored["progress"] = args.progress
    config = SearchConfig(**stored)
    limit = ((record.get("options") or {}).get("bdp") or {}).get("limit")
    if LIMIT_FNS.get(limit) is not None:
        config.bdp_kwargs = {**config.bdp_kwargs, "limit_fn": LIMIT_FNS[limit]}
    return config


def rerun(record: dict[str, Any], data: tuple[Any, dict[str, Any]], args: argparse.Namespace) -> dict:
    """Run ``record``'s search again (its config, seed, split and thread count); the new record."""
    from proxydata.experiment import run_search

    dataset, splits = data
    split = split_name(record.get("options") or {})
    if split not in splits:
        raise SystemExit(f"{record['key']}: split {split!r} is not the protocol's (--lt-factor?)")
    train_idx, val_idx = splits[split]
    if (train_idx.size, val_idx.size) != (record["train_pool"], record["val_size"]):
        raise SystemExit(
            f"{record['key']}: recorded on {record['train_pool']} + {record['val_size']} images, "
            f"the split here has {train_idx.size} + {val_idx.size}"
        )
    config = config_of(record, args)
    torch.set_num_threads(int(record.get("torch_threads") or args.threads))
    torch.manual_seed(int(record["seed"]))
    epochs = args.verify_epochs
    stop = (lambda epoch, result, net: epoch + 1 >= epochs,) if epochs else ()
    return run_search(dataset, train_idx, val_idx, config, callbacks=stop).to_dict()


def code_change(recorded: str | None, current: str) -> list[str]:
    """What changed in the code between a record's commit and this checkout (``--verify``'s report).

    ``code: <record> -> <now>``, then the files of ``proxydata/`` and of the runner
    (``benchmarks/reproduce.py``, ``benchmarks/suites.py``) that differ between the
    two commits (``git diff --name-only``), or why they cannot be listed. A re-run
    that differs from a record made by other code may differ because of the code:
    re-run it from a checkout of the record's commit to tell code from environment.
    """
    import subprocess

    lines = [f"code: {recorded} -> {current}"]
    commit = (recorded or "").split("+")[0]
    if not commit or commit == "unknown":
        return [*lines, "  the record names no commit: the code that made it is unknown"]
    if recorded and recorded.endswith("+dirty"):
        lines.append("  the record was made with uncommitted changes (its git.diff_sha256 names them)")
    paths = ["proxydata", "benchmarks/reproduce.py", "benchmarks/suites.py"]
    try:
        out = subprocess.run(
            ["git", "diff", "--name-only", commit, "HEAD", "--", *paths],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return [*lines, f"  commit {commit} is not in this repository: the code change cannot be listed"]
    changed = [f for f in out.stdout.splitlines() if f]
    if not changed:
        return [*lines, "  no file of proxydata/ or of the runner differs between the two commits"]
    shown = ", ".join(changed[:12]) + (f" and {len(changed) - 12} more" if len(changed) > 12 else "")
    return [
        *lines,
        f"  {len(changed)} file(s) of proxydata/ and the runner differ between the two commits: {shown}",
        f"  (a difference may come from the code: re-run from a checkout of {commit} to tell)",
    ]


def verify(args: argparse.Namespace) -> int:
    """``--verify``: re-run records and print how each compares with its re-run."""
    chosen = pick_records(read_records(Path(args.out)), args)
    dataset, train_idx, val_idx = load_protocol_data(args)
    splits = run_splits(chosen, dataset, train_idx, val_idx, args)
    print(f"re-running {len(chosen)} record(s) of {args.out}", flush=True)
    counts: dict[str, int] = {}
    for record in chosen:
        start = time.perf_counter()
        new = rerun(record, (dataset, splits), args)
        result = compare_runs(record, new, args.verify_epochs)
        now = environment(REPO)
        env_lines = environment_diff(record.get("environment"), now)
        if record.get("code") != code_version(now["git"]):
            env_lines[:0] = code_change(record.get("code"), code_version(now["git"]))
        print(format_comparison(record["key"], result, env_lines, args.verify_epochs), flush=True)
        print(f"  ({time.perf_counter() - start:.0f} s, {torch.get_num_threads()} thread(s))", flush=True)
        counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
    print("summary: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())), flush=True)
    return 0


def long_tailed_splits(dataset: Any, train_idx: np.ndarray, val_idx: np.ndarray, args: Any) -> tuple:
    """The long-tailed subsets of both search splits (``split=lt<factor>``)."""
    from proxydata.data import get_targets

    labels = (
        np.asarray(dataset.targets) if hasattr(dataset, "targets") else get_targets(dataset, progress=False)
    )
    return (
        long_tailed(train_idx, labels, args.lt_factor, args.split_seed),
        long_tailed(val_idx, labels, args.lt_factor, args.split_seed + 1),
    )


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


def _share(high: float | None, high_open: bool) -> Any:
    """A finite float in (0, high], (0, high) or (0, inf) (``high`` None) as an argparse type."""
    shape = "0 < value" + ("" if high is None else f" {'<' if high_open else '<='} {high:g}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number with {shape}, got {text!r}") from None
        ok = bool(np.isfinite(value)) and value > 0
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a number with {shape}, got {text!r}")
        return value

    return parse


def _shard(text: str) -> str:
    """``auto`` or ``i/k`` with integers ``k >= 1`` and ``0 <= i < k`` (0-based, as the help says)."""
    if text == "auto":
        return text
    parts = text.split("/")
    try:
        i, k = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or 'i/k' (0 <= i < k), got {text!r}") from None
    if k < 1 or not 0 <= i < k:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or 'i/k' with k >= 1 and 0 <= i < k (shards are numbered from 0), got {text!r}"
        )
    return text


#: ``--quick``'s settings; an option given explicitly on the command line keeps its value.
QUICK = {
    "grid": ["full", "bdp", "proxy"],
    "algos": ["darts-v1"],
    "methods": ["rs", "cc-or"],
    "ratios": [0.5],
    "seeds": [0],
    "epochs": 3,
    "pool_size": 256,
    "val_size": 256,
    "C": 4,
    "N": 1,
    "bdp_interval": 2,
    "clusters": 10,
}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``reproduce.py``; defaults of the protocol from :data:`suites.GRID_DEFAULTS`."""
    d = GRID_DEFAULTS
    pos, nonneg = _int_at_least(1), _int_at_least(0)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--table", default=None, help="NB201 table (default: <data-dir>/nb201_accuracies.csv.gz)")
    p.add_argument(
        "--grid",
        nargs="+",
        default=["full", "bdp", "proxy"],
        choices=["full", "bdp", "proxy", *SUITES],
        help="v1 grids (full, bdp, proxy) and the suites of issue 12, run in the order " + ", ".join(SUITES),
    )
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGORITHMS))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--ratios", nargs="+", type=_share(1.0, False), default=list(d["ratios"]),
                   help="static-proxy ratios, 0 < r <= 1")  # fmt: skip
    p.add_argument("--seeds", nargs="+", type=nonneg, default=list(d["seeds"]))
    p.add_argument("--epochs", type=pos, default=d["epochs"])
    p.add_argument("--C", type=pos, default=d["C"])
    p.add_argument("--N", type=pos, default=d["N"])
    p.add_argument("--batch-size", type=pos, default=64)
    p.add_argument("--resolution", type=int, default=d["resolution"], choices=[16, 32])
    p.add_argument("--pool-size", type=pos, default=d["pool_size"])
    p.add_argument("--val-size", type=pos, default=d["val_size"])
    p.add_argument("--split-seed", type=nonneg, default=0)
    p.add_argument("--clusters", type=pos, default=100)
    p.add_argument("--ae-epochs", type=pos, default=10)
    p.add_argument("--tl-epochs", type=pos, default=10)
    p.add_argument("--bdp-interval", type=pos, default=d["bdp_interval"])
    p.add_argument("--bdp-ratio", type=_share(1.0, True), default=d["bdp_ratio"],
                   help="share of each split pruned per step of the v1 'bdp' grid, 0 < p < 1")  # fmt: skip
    p.add_argument("--hessian", type=nonneg, default=d["hessian"],
                   help="Hessian batch of the paper/beta suites (0: off)")  # fmt: skip
    p.add_argument("--hessian-iterations", type=pos, default=10)
    p.add_argument("--beta-lambda", type=_share(None, False), default=d["beta_lambda"],
                   help="β-DARTS lambda_max")  # fmt: skip
    p.add_argument("--lt-factor", type=_share(None, False), default=d["lt_factor"],
                   help="imbalance factor of the long-tailed split")  # fmt: skip
    p.add_argument("--augment-padding", type=pos, default=d["augment_padding"],
                   help="crop padding of the aug suite (16 px)")  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=pos, default=1)
    p.add_argument(
        "--shard",
        type=_shard,
        default="0/1",
        help="i/k (0 <= i < k): every k-th run starting at run i; auto: claim runs as they come",
    )
    p.add_argument("--limit", type=nonneg, default=None, help="stop after this many new runs")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to do")
    p.add_argument(
        "--quick", action="store_true", help="a minimal grid in a few minutes (explicit options win)"
    )
    p.add_argument("--report", action="store_true", help="write docs/results.md from --out and stop")
    p.add_argument("--verify", type=pos, default=None, metavar="K",
                   help="re-run K records of --out drawn at random (--seed) and compare")  # fmt: skip
    p.add_argument("--verify-keys", nargs="+", default=None, metavar="KEY", help="re-run these records")
    p.add_argument("--verify-epochs", type=pos, default=None, metavar="E",
                   help="stop each re-run after E epochs and compare those")  # fmt: skip
    p.add_argument("--seed", type=nonneg, default=None, help="seed of --verify's draw (default 0)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check every argument (exit code 2 on a bad one) before any data is read."""
    p = build_parser()
    args = p.parse_args(argv)
    if args.quick:
        unset = object()
        given = p.parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys(QUICK, unset)))
        for name, value in QUICK.items():
            if getattr(given, name) is unset:
                setattr(args, name, value)
    modes = [f for f in ("report", "dry_run", "quick") if getattr(args, f)]
    if (args.verify or args.verify_keys) and modes:
        p.error(f"--verify cannot be combined with --{modes[0].replace('_', '-')}")
    if args.verify and args.verify_keys:
        p.error("give --verify K or --verify-keys, not both")
    if args.verify_epochs and not (args.verify or args.verify_keys):
        p.error("--verify-epochs needs --verify or --verify-keys")
    if args.seed is not None and not args.verify:
        p.error("--seed is the seed of --verify's draw (the runs' seeds are --seeds)")
    steps = (args.epochs - 1) // args.bdp_interval
    if "bdp" in args.grid and steps * args.bdp_ratio >= 1:
        p.error(
            f"--bdp-ratio {args.bdp_ratio:g} over {steps} pruning steps (--epochs {args.epochs}, "
            f"--bdp-interval {args.bdp_interval}) would prune every sample"
        )
    return args


def check_paths(args: argparse.Namespace) -> str | None:
    """What is missing among the data directory and the NB201 table (None when both exist)."""
    data_dir = Path(args.data_dir) if args.data_dir else shared_data_dir()
    if data_dir is None or not data_dir.is_dir():
        return "shared data not found: pass --data-dir or set PROXYDATA_SHARED_DATA"
    table = Path(args.table) if args.table else data_dir / "nb201_accuracies.csv.gz"
    if not table.is_file():
        return f"NB201 table not found: {table} (pass --table)"
    return None


def main(argv: list[str] | None = None) -> int:
    """The command line: --report, --verify, or run the grid (see the module docstring)."""
    args = parse_args(argv)
    if args.report:
        from report.page import write_report

        write_report(Path(args.out), REPO / "docs" / "results.md", REPO / "docs" / "figures")
        return 0
    out = Path(args.out)
    if not args.dry_run:
        problem = check_package() or check_paths(args)
        if problem:
            print(f"reproduce.py: error: {problem}", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    if args.verify or args.verify_keys:
        return verify(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    auto = args.shard == "auto"
    shard_i, shard_k = (0, 1) if auto else (int(v) for v in args.shard.split("/"))
    grid = build_grid(args)
    todo = [r for i, r in enumerate(grid) if i % shard_k == shard_i and run_key(r) not in done_keys(out)]
    print(f"{len(grid)} runs in the grid, {len(todo)} to do in shard {args.shard}", flush=True)
    if args.dry_run:
        for run in todo:
            print(run_key(run))
        return 0
    from proxydata.nas import NB201Table

    dataset, train_idx, val_idx = load_protocol_data(args)
    splits = run_splits(todo, dataset, train_idx, val_idx, args)
    data_dir = Path(args.data_dir) if args.data_dir else shared_data_dir()
    table = NB201Table(args.table or str(data_dir / "nb201_accuracies.csv.gz"))
    for n_done, run in enumerate(todo):
        if args.limit is not None and n_done >= args.limit:
            break
        if run_key(run) in done_keys(out):  # another shard may have done it meanwhile
            continue
        claim = claim_run(out, run) if auto else None
        if auto and claim is None:
            continue
        start = time.perf_counter()
        record = execute(run, dataset, splits, args, table)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if claim is not None:
            claim.unlink(missing_ok=True)
        acc = record.get("accuracies", {})
        print(
            f"[{n_done + 1}/{len(todo)}] {record['key']}  {record['genotype']}  "
            f"c10={acc.get('cifar10_test_200ep', float('nan')):.2f}  {time.perf_counter() - start:.0f}s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
