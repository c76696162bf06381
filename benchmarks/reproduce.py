"""Reproduce the two papers' findings at CPU scale on real CIFAR-10 (issue 6).

Protocol (every value an option): CIFAR-10 16x16 from ``shared/data``; the search
training pool is a stratified sample of NAS-Bench-201's ``cifar10valid_train``
half and the search validation set a stratified sample of its
``cifar10valid_valid`` half (sizes ``--pool-size``/``--val-size``, seed
``--split-seed``; the indices are saved next to the results). Supernet C=8,
N=1, batch 64, 20 epochs. The found genotype is scored by its NAS-Bench-201
200-epoch test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120.

Runs (``--grid``):

* ``full``  — every algorithm on the whole pool;
* ``proxy`` — every static proxy at every ratio, for every algorithm;
* ``bdp``   — DARTS-V1 + BiLevelPruner (``--bdp-ratio`` per step, ending near 40 %
  of each split with the defaults), and the same without the class-balance limit.

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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from proxydata.nas import ALGORITHMS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "reproduction.jsonl"
METHODS = ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl")
ALGOS = ("darts-v1", "gdas")
TABLE_COLUMNS = ("cifar10_test_200ep", "cifar100_test_200ep", "imagenet16_test_200ep")


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


#: Per-step prune ratios of the paper-strength schedules (interval 2, 20 epochs:
#: 9 steps at the ends of epochs 2, 4, ..., 18): 1 - 9 p = 0.04 and 0.14 of each split.
PAPER_RATIOS = {"4pct": round(0.96 / 9, 4), "14pct": round(0.86 / 9, 4)}
SUITES = ("paper", "paper14", "beta", "criteria", "balance", "aug", "v2proxy")


def linear_limits(counts: Any, num_steps: int, balance: float) -> np.ndarray:
    """Alternative class-balance limit ("limit=linear"), ours, for the ablation.

    ``N_k = floor(n_k · (B + (1 - B) / S))``: the same end points as the library's
    ``floor(n_k / S^(1-B))`` (``n_k`` at ``B = 1``, ``n_k / S`` at ``B = 0``) but
    linear in ``B`` in between, so it is looser for every ``0 < B < 1``.
    """
    c = np.asarray(counts, dtype=np.int64)
    b = float(balance)
    return np.floor(c * (b + (1.0 - b) / int(num_steps)) * (1.0 + 1e-12)).astype(np.int64)


LIMIT_FNS = {"ours": None, "linear": linear_limits}


def long_tailed(indices: np.ndarray, labels: np.ndarray, factor: float, seed: int) -> np.ndarray:
    """A long-tailed subset of ``indices``: class ``c`` keeps ``round(n_max · factor^(-c/(K-1)))``.

    ``n_max`` is the largest class count of ``indices`` and ``K`` the number of
    classes (CIFAR-10-LT's exponential profile; imbalance factor ``factor``).
    The kept samples of each class are drawn with ``numpy.random.default_rng(seed)``.
    """
    lab = labels[indices]
    classes = np.unique(lab)
    n_max = int(np.bincount(lab).max())
    rng = np.random.default_rng(seed)
    kept = []
    for c in classes:
        members = indices[lab == c]
        n_keep = min(members.size, int(np.floor(n_max * factor ** (-c / max(classes.size - 1, 1)) + 0.5)))
        kept.append(rng.choice(members, size=n_keep, replace=False))
    return np.sort(np.concatenate(kept))


def _bdp(ratio: float, interval: int = 2, limit: str = "ours", crit: str = "low/high") -> dict[str, Any]:
    tc, vc = crit.split("/")
    return {
        "interval": interval,
        "train_ratio": ratio,
        "val_ratio": ratio,
        "train_criterion": tc,
        "val_criterion": vc,
        "limit": limit,
    }


def suite_runs(suite: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of one suite of issue 12 for one seed, most important first."""
    p4, p14 = PAPER_RATIOS["4pct"], PAPER_RATIOS["14pct"]
    hess = {"hessian": args.hessian} if args.hessian else {}
    runs: list[dict[str, Any]] = []

    def add(algo: str, method: str, ratio: float = 1.0, **opts: Any) -> None:
        runs.append({"algo": algo, "method": method, "ratio": ratio, "seed": seed, "options": opts})

    if suite == "paper":  # item 2 at 4 % (+ the Hessian trajectories of item 7)
        for limit in ("ours", "none"):
            add("darts-v1", "bdp", bdp=_bdp(p4, limit=limit), **hess)
        add("darts-v1", "full", **hess)
    elif suite == "paper14":  # item 2 at 14 % (no Hessian: the clock is short)
        for limit in ("ours", "none"):
            add("darts-v1", "bdp", bdp=_bdp(p14, limit=limit))
    elif suite == "beta":  # item 3
        add("beta-darts", "full", beta=args.beta_lambda, **hess)
        for limit in ("ours", "none"):
            add("beta-darts", "bdp", bdp=_bdp(p4, limit=limit), beta=args.beta_lambda, **hess)
    elif suite == "criteria":  # item 4 (low/high is the "paper" run)
        for crit in ("low/low", "high/low", "high/high"):
            add("darts-v1", "bdp", bdp=_bdp(p4, crit=crit))
    elif suite == "balance":  # item 5: long-tailed split (a); a schedule binding from step 1 (b)
        lt = {"split": f"lt{args.lt_factor:g}"}
        add("darts-v1", "full", **lt)
        for limit in ("ours", "none", "linear"):
            add("darts-v1", "bdp", bdp=_bdp(p4, limit=limit), **lt)
        for limit in ("ours", "none", "linear"):
            add("darts-v1", "bdp", bdp=_bdp(0.24, interval=4, limit=limit), **lt)
    elif suite == "aug":  # item 2 with augmentation
        aug = {"augment": args.augment_padding}
        for limit in ("ours", "none"):
            add("darts-v1", "bdp", bdp=_bdp(p4, limit=limit), **aug)
        add("darts-v1", "full", **aug)
    elif suite == "v2proxy":  # item 6
        add("darts-v2", "full")
        for ratio in (0.25, 0.5):
            for method in METHODS:
                add("darts-v2", method, ratio)
    return runs


def build_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every run of the grid as a small dict (the run's identity), in priority order."""
    runs: list[dict[str, Any]] = []
    for suite in (s for s in SUITES if s in args.grid):
        for seed in args.seeds:
            runs += suite_runs(suite, seed, args)
    for seed in args.seeds:
        if "full" in args.grid:
            for algo in args.algos:
                runs.append({"algo": algo, "method": "full", "ratio": 1.0, "seed": seed, "options": {}})
        if "bdp" in args.grid:
            for limit in ("ours", "none"):
                bdp = _bdp(args.bdp_ratio, interval=args.bdp_interval, limit=limit)
                runs.append(
                    {"algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": seed, "options": {"bdp": bdp}}
                )
        if "proxy" in args.grid:
            for ratio in args.ratios:
                for method in args.methods:
                    for algo in args.algos:
                        runs.append(
                            {"algo": algo, "method": method, "ratio": ratio, "seed": seed, "options": {}}
                        )
    scale = f"{args.resolution}px-{args.pool_size}+{args.val_size}-C{args.C}N{args.N}-e{args.epochs}"
    for run in runs:
        run["protocol"] = 2
        run["scale"] = scale
        run["label"] = options_label(run["options"])
    return runs


def options_label(options: dict[str, Any]) -> str:
    """Every setting of a run beyond (scale, algo, method, ratio, seed), as ``k=v`` pairs.

    BDP settings as ``T<interval>``, ``p<train>/<val>``, ``<train crit>/<val crit>``,
    ``limit=<ours|none|linear>``; then ``split=``, ``augment=`` (padding),
    ``beta=`` (β-DARTS lambda_max), ``hessian=`` (samples). Empty for a plain run.
    """
    parts = []
    bdp = options.get("bdp")
    if bdp:
        parts.append(
            f"T{bdp['interval']} p{bdp['train_ratio']:g}/{bdp['val_ratio']:g} "
            f"{bdp['train_criterion']}/{bdp['val_criterion']} limit={bdp['limit']}"
        )
    for key in sorted(k for k in options if k != "bdp"):
        parts.append(f"{key}={options[key]}")
    return " ".join(parts)


def run_key(run: dict[str, Any]) -> str:
    """The identity of a run: protocol v2 keys carry every setting (v1 keys had none)."""
    base = f"{run['scale']}|{run['algo']}|{run['method']}|{float(run['ratio']):.2f}|{run['seed']}"
    if run.get("protocol", 1) < 2:
        return base
    return f"v2|{base}|{options_label(run.get('options', {}))}"


def done_keys(path: Path) -> set[str]:
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


def execute(
    run: dict[str, Any],
    dataset: Any,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
    table: Any,
) -> dict[str, Any]:
    from proxydata.experiment import SearchConfig, run_search

    method, opts = run["method"], run.get("options", {})
    train_idx, val_idx = splits[opts.get("split", "balanced")]
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
        }
        if LIMIT_FNS.get(bdp["limit"]) is not None:
            config.bdp_kwargs["limit_fn"] = LIMIT_FNS[bdp["limit"]]
    torch.manual_seed(run["seed"])
    record = run_search(dataset, train_idx, val_idx, config, table=table).to_dict()
    record["config"]["bdp_kwargs"].pop("limit_fn", None)  # a function: the label names it
    record.update(run)
    record["key"] = run_key(run)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    record["torch_threads"] = torch.get_num_threads()
    record["code"] = args.code_version
    record["environment"] = environment()
    return record


def environment() -> dict[str, str]:
    """What besides the code decides a run's floating point: versions and the CPU's kernels.

    The same code and seed give bit-identical runs on one machine; another CPU (its
    vector instructions pick other kernels) changes the last bits from the first
    epoch, and DARTS's search amplifies them.
    """
    import platform

    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def code_version() -> str:
    """Git commit of the code that made a run (``+dirty`` when uncommitted changes exist)."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "proxydata"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    p.add_argument("--ratios", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--resolution", type=int, default=16, choices=[16, 32])
    p.add_argument("--pool-size", type=int, default=5000)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--clusters", type=int, default=100)
    p.add_argument("--ae-epochs", type=int, default=10)
    p.add_argument("--tl-epochs", type=int, default=10)
    p.add_argument("--bdp-interval", type=int, default=5)
    p.add_argument("--bdp-ratio", type=float, default=0.2)
    p.add_argument("--hessian", type=int, default=128, help="Hessian batch of the paper/beta suites (0: off)")
    p.add_argument("--hessian-iterations", type=int, default=10)
    p.add_argument("--beta-lambda", type=float, default=25.0, help="β-DARTS lambda_max")
    p.add_argument("--lt-factor", type=float, default=10.0, help="imbalance factor of the long-tailed split")
    p.add_argument("--augment-padding", type=int, default=2, help="crop padding of the aug suite (16 px)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--shard", default="0/1", help="i/k: every k-th run starting at i; auto: claim runs as they come"
    )
    p.add_argument("--limit", type=int, default=None, help="stop after this many new runs")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to do")
    p.add_argument("--quick", action="store_true", help="a minimal grid in a few minutes")
    p.add_argument("--report", action="store_true", help="write docs/results.md from --out and stop")
    args = p.parse_args(argv)
    if args.quick:
        args.grid, args.algos, args.methods = ["full", "bdp", "proxy"], ["darts-v1"], ["rs", "cc-or"]
        args.ratios, args.seeds, args.epochs = [0.5], [0], 3
        args.pool_size, args.val_size, args.C, args.N = 256, 256, 4, 1
        args.bdp_interval, args.clusters = 2, 10
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from results_report import write_report

        write_report(Path(args.out), REPO / "docs" / "results.md", REPO / "docs" / "figures")
        return 0
    torch.set_num_threads(args.threads)
    args.code_version = code_version()
    out = Path(args.out)
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
    labels = np.asarray(dataset.targets) if hasattr(dataset, "targets") else None
    splits = {"balanced": (train_idx, val_idx)}
    if any("split" in r.get("options", {}) for r in todo):
        from proxydata.data import get_targets

        labels = get_targets(dataset, progress=False) if labels is None else labels
        lt = f"lt{args.lt_factor:g}"
        splits[lt] = (
            long_tailed(train_idx, labels, args.lt_factor, args.split_seed),
            long_tailed(val_idx, labels, args.lt_factor, args.split_seed + 1),
        )
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
