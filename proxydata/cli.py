"""The ``proxydata`` command: select a proxy, run a search, run the demo.

``proxydata select METHOD --data SRC --ratio R``
    Choose a static proxy (RS, CC-RS, KM-OR, CC-OR, AE, TL), print what it kept
    and save it with :meth:`ProxySampler.save`.
``proxydata search --data SRC --algo darts-v1 [--proxy M --ratio R] [--bdp]``
    One NAS-Bench-201 search (see :func:`proxydata.experiment.run_search`),
    optionally scored by a benchmark table and/or by training the found cell.
``proxydata demo``
    Full data, a CC-OR proxy and the bi-level pruner side by side on
    scikit-learn's digits (see :mod:`proxydata.demo`).

Errors in the arguments or the data end the command with one line on stderr,
``proxydata: error: ...``, and exit status 2 — no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._validation import check_fraction, check_int, check_ratio
from ._version import __version__

__all__ = ["build_parser", "main"]

PROG = "proxydata"
METHODS = ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl")
ALGORITHMS = ("darts-v1", "darts-v2", "gdas")
TABLE_ENV = "PROXYDATA_NB201_TABLE"

# CLI option (argparse dest) -> sampler keyword, and the methods it applies to.
METHOD_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "clusters": ("n_clusters", ("km-or",)),
    "backend": ("backend", ("km-or",)),
    "proxy_epochs": ("epochs", ("ae", "tl")),
    "keep": ("keep", ("ae", "tl")),
    "loss": ("loss", ("ae",)),
    "backbone": ("backbone", ("tl",)),
    "weights_path": ("weights_path", ("tl",)),
    "score_epoch": ("score_epoch", ("tl",)),
    "proxy_batch_size": ("batch_size", ("ae", "tl")),
    "proxy_device": ("device", ("km-or", "ae", "tl")),
}
_FLAG_OF = {
    "clusters": "--clusters",
    "backend": "--backend",
    "proxy_epochs": "--epochs",
    "keep": "--keep",
    "loss": "--loss",
    "backbone": "--backbone",
    "weights_path": "--weights-path",
    "score_epoch": "--score-epoch",
    "proxy_batch_size": "--batch-size",
    "proxy_device": "--device",
}


class UsageError(Exception):
    """A bad command line; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits from inside parse_args; raise instead
    # so that main() reports every error the same way, as one line.
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- parser
def _add_method_options(p: argparse.ArgumentParser, *, prefix: str = "") -> None:
    g = p.add_argument_group("proxy method options (only for the methods named)")
    g.add_argument(
        "--clusters", dest="clusters", type=int, default=None, help="KM-OR: number of k-means clusters K"
    )
    g.add_argument(
        "--backend", choices=["auto", "faiss", "sklearn"], default=None, help="KM-OR: k-means backend"
    )
    g.add_argument(
        f"--{prefix}epochs",
        dest="proxy_epochs",
        type=int,
        default=None,
        help="AE/TL: training epochs of the scoring model",
    )
    g.add_argument(
        "--keep",
        choices=["easy", "hard"],
        default=None,
        help="AE/TL: keep the lowest-loss (easy) or highest-loss (hard) samples",
    )
    g.add_argument("--loss", choices=["bce", "mse"], default=None, help="AE: reconstruction loss")
    g.add_argument(
        "--backbone",
        choices=["resnet18", "scratch"],
        default=None,
        help="TL: 'scratch' trains a small CNN offline; default: ResNet-18 ImageNet weights",
    )
    g.add_argument(
        "--weights-path",
        dest="weights_path",
        default=None,
        help="TL: local ResNet-18 state_dict file (nothing is downloaded)",
    )
    g.add_argument(
        "--score-epoch",
        dest="score_epoch",
        type=int,
        default=None,
        help="TL: epoch after which the losses are scored",
    )
    g.add_argument(
        f"--{prefix}batch-size",
        dest="proxy_batch_size",
        type=int,
        default=None,
        help="AE/TL: batch size of the scoring model",
    )
    g.add_argument(
        f"--{prefix}device", dest="proxy_device", default=None, help="KM-OR/AE/TL: device, e.g. cuda"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``proxydata`` command."""
    parser = _Parser(prog=PROG, description="Proxy datasets and bi-level data pruning for NAS.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # select ----------------------------------------------------------------
    p = sub.add_parser(
        "select",
        help="choose a static proxy subset and save it",
        description="Choose a static proxy subset of a dataset (Moser et al., 2022).",
    )
    p.add_argument("method", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--data", required=True, help="digits | npz:PATH | cifar10:ROOT | cifar100:ROOT")
    p.add_argument("--download", action="store_true", help="allow torchvision to download CIFAR")
    p.add_argument("--ratio", type=float, required=True, help="kept share r in (0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default=None, help="write the proxy here (.json or .npz)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_method_options(p)

    # search ----------------------------------------------------------------
    p = sub.add_parser(
        "search",
        help="run a NAS-Bench-201 search (DARTS-V1/V2, GDAS)",
        description="Search a NAS-Bench-201 cell on full data, a static proxy and/or "
        "with the bi-level pruner.",
    )
    p.add_argument("--data", required=True, help="digits | npz:PATH | cifar10:ROOT | cifar100:ROOT")
    p.add_argument("--download", action="store_true", help="allow torchvision to download CIFAR")
    p.add_argument("--algo", choices=ALGORITHMS, default="darts-v1")
    p.add_argument("--proxy", choices=METHODS, default=None, help="static proxy of the search training split")
    p.add_argument("--ratio", type=float, default=None, help="proxy ratio r in (0, 1] (needs --proxy)")
    p.add_argument("--bdp", action="store_true", help="prune both splits during the search (BiLevelPruner)")
    p.add_argument(
        "--bdp-interval",
        type=int,
        default=None,
        help="prune every T >= 2 epochs, VoE over the last T (default 5)",
    )
    p.add_argument(
        "--bdp-train-ratio",
        type=float,
        default=None,
        help="share of the initial training split pruned per step (default 0.1)",
    )
    p.add_argument(
        "--bdp-val-ratio",
        type=float,
        default=None,
        help="share of the initial validation split pruned per step (default 0.1)",
    )
    p.add_argument(
        "--no-class-balance", action="store_true", help="turn off the automatic class-balance limit"
    )
    p.add_argument("--epochs", type=int, default=50, help="search epochs (default 50)")
    p.add_argument("--C", type=int, default=16, help="supernet channels (default 16)")
    p.add_argument("--N", type=int, default=5, help="cells per stage (default 5)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    p.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (default 0: torch's default)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.5,
        help="share of the search data used as the DARTS validation split (stratified, default 0.5)",
    )
    p.add_argument(
        "--table",
        default=None,
        help=f"NAS-Bench-201 accuracy table (csv/csv.gz); default: ${TABLE_ENV} if set",
    )
    p.add_argument(
        "--train-from-scratch",
        dest="scratch_epochs",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="train the found cell from scratch for EPOCHS and report its test accuracy",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="stratified test hold-out for --train-from-scratch when the source has no "
        "test split (default 0.2)",
    )
    p.add_argument("-o", "--output", default=None, help="write the result record here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_method_options(p, prefix="proxy-")

    # demo --------------------------------------------------------------------
    p = sub.add_parser(
        "demo",
        help="full data vs CC-OR proxy vs BiLevelPruner on digits (no download)",
        description="The same short DARTS-V1 search three ways on scikit-learn's digits.",
    )
    p.add_argument("--epochs", type=int, default=None, help="search epochs (default from proxydata.demo)")
    p.add_argument("--scratch-epochs", type=int, default=None, help="from-scratch training epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: on 8x8 images more threads cost more than "
        "they give, and far more on a busy machine); 0 keeps torch's default",
    )
    p.add_argument("-o", "--output", default=None, help="write all three records here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


# --------------------------------------------------------------------------- helpers
def _method_kwargs(args: argparse.Namespace, method: str | None) -> dict[str, Any]:
    """Sampler keywords from the method options, refusing those of other methods."""
    kwargs: dict[str, Any] = {}
    for dest, (key, methods) in METHOD_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if method not in methods:
            flag = _FLAG_OF[dest]
            if dest in ("proxy_epochs", "proxy_batch_size", "proxy_device") and args.command == "search":
                flag = flag.replace("--", "--proxy-")
            raise UsageError(f"{flag} applies only to {'/'.join(methods)}, not to {method or 'no proxy'}")
        kwargs[key] = value
    return kwargs


def _check_method(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key not in METHODS:
        raise UsageError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return key


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def _check_output_dir(path: str | None) -> None:
    # Fail before minutes of work rather than after it.
    if path:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UsageError(f"output directory does not exist: {parent!r}")


def _class_table(counts_full: np.ndarray, counts_kept: np.ndarray, width: int = 10) -> list[str]:
    """Per-class counts as rows of ``width`` classes (readable for 100 classes too)."""
    lines = []
    for start in range(0, counts_full.size, width):
        cols = range(start, min(start + width, counts_full.size))
        lines.append("  class " + "".join(f"{c:>7d}" for c in cols))
        lines.append("  all   " + "".join(f"{int(counts_full[c]):>7d}" for c in cols))
        lines.append("  kept  " + "".join(f"{int(counts_kept[c]):>7d}" for c in cols))
    return lines


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op threads (0: leave torch's setting), restored afterwards."""
    import torch

    check_int(threads, "--threads", minimum=0)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_json(path: str, record: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, default=_json_default)
        fh.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return str(value)


# --------------------------------------------------------------------------- select
def cmd_select(args: argparse.Namespace) -> int:
    """``proxydata select``: build a proxy sampler, report it, save it."""
    from .datasets import load_source
    from .metrics import class_balance_degree, class_counts
    from .samplers import make_proxy

    method = _check_method(args.method)
    ratio = check_ratio(args.ratio)
    kwargs = _method_kwargs(args, method)
    _check_output_dir(args.output)
    if args.output and not args.output.endswith((".json", ".npz")):
        raise UsageError(f"-o must end in .json or .npz, got {args.output!r}")

    dataset = load_source(args.data, download=args.download)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    start = time.perf_counter()
    proxy = make_proxy(
        method, dataset, ratio=ratio, seed=args.seed, progress=_progress(args), targets=targets, **kwargs
    )
    seconds = time.perf_counter() - start

    num_classes = int(targets.max()) + 1
    full = class_counts(targets, num_classes)
    kept = class_counts(targets[proxy.indices], num_classes)
    n, m = targets.size, int(proxy.indices.size)
    print(
        f"{method} proxy of {args.data}: kept {m} of {n} samples ({100.0 * m / n:.1f} %), "
        f"ratio {ratio:g}, seed {args.seed}"
    )
    print("per-class counts:")
    for line in _class_table(full, kept):
        print(line)
    print(
        f"class balance degree: kept {class_balance_degree(kept):.4f} "
        f"(all data {class_balance_degree(full):.4f})"
    )
    print(f"selection time: {seconds:.2f} s")
    if args.output:
        proxy.save(args.output)
        print(f"wrote {args.output}")
    return 0


# --------------------------------------------------------------------------- search
def _table_path(args: argparse.Namespace) -> str | None:
    path = args.table if args.table is not None else os.environ.get(TABLE_ENV) or None
    if path is not None and not os.path.isfile(path):
        raise UsageError(f"--table file not found: {path!r}")
    return path


def _source_test_split(spec: str, download: bool) -> Any:
    """The source's own test set (npz ``x_test``/``y_test``, CIFAR test), or None."""
    from .datasets import load_npz, load_torchvision

    kind, _, rest = spec.partition(":")
    if kind == "npz":
        with np.load(rest, allow_pickle=False) as z:
            has_test = "x_test" in z.files and "y_test" in z.files
        return load_npz(rest, split="test") if has_test else None
    if kind in ("cifar10", "cifar100"):
        return load_torchvision(kind, rest, train=False, download=download)
    return None


def _validate_search(args: argparse.Namespace) -> None:
    check_int(args.epochs, "--epochs", minimum=1)
    check_int(args.C, "--C", minimum=1)
    check_int(args.N, "--N", minimum=1)
    check_int(args.batch_size, "--batch-size", minimum=1)
    check_int(args.scratch_epochs, "--train-from-scratch", minimum=0)
    check_int(args.threads, "--threads", minimum=0)
    check_fraction(args.val_fraction, "--val-fraction", low_open=True, high_open=True)
    check_fraction(args.test_fraction, "--test-fraction", low_open=True, high_open=True)
    if args.ratio is not None and args.proxy is None:
        raise UsageError("--ratio needs --proxy METHOD")
    if args.proxy is not None:
        if args.ratio is None:
            raise UsageError(f"--proxy {args.proxy} needs --ratio R (the kept share, in (0, 1])")
        check_ratio(args.ratio, "--ratio")
    bdp_options = {
        "--bdp-interval": args.bdp_interval,
        "--bdp-train-ratio": args.bdp_train_ratio,
        "--bdp-val-ratio": args.bdp_val_ratio,
        "--no-class-balance": args.no_class_balance or None,
    }
    if not args.bdp:
        given = [flag for flag, value in bdp_options.items() if value is not None]
        if given:
            raise UsageError(f"{given[0]} needs --bdp")
        return
    args.bdp_interval = 5 if args.bdp_interval is None else args.bdp_interval
    args.bdp_train_ratio = 0.1 if args.bdp_train_ratio is None else args.bdp_train_ratio
    args.bdp_val_ratio = 0.1 if args.bdp_val_ratio is None else args.bdp_val_ratio
    check_int(args.bdp_interval, "--bdp-interval", minimum=2)  # VoE needs two epochs
    check_fraction(args.bdp_train_ratio, "--bdp-train-ratio", high_open=True)
    check_fraction(args.bdp_val_ratio, "--bdp-val-ratio", high_open=True)


def cmd_search(args: argparse.Namespace) -> int:
    """``proxydata search``: one search, its genotype, time, data and accuracies."""
    from .data import split_indices
    from .datasets import load_source
    from .experiment import SearchConfig, evaluate_genotype, run_search

    _validate_search(args)
    kwargs = _method_kwargs(args, args.proxy)
    _check_output_dir(args.output)
    table_path = _table_path(args)
    from .nas import NB201Table

    table = NB201Table(table_path) if table_path else None
    progress = _progress(args)

    dataset = load_source(args.data, download=args.download)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    n = targets.size

    # Test data for --train-from-scratch never enters the search: the source's own
    # test split when it has one, else a stratified hold-out taken first.
    pool = np.arange(n, dtype=np.int64)
    test_set, test_note = None, None
    if args.scratch_epochs:
        test_set = _source_test_split(args.data, args.download)
        if test_set is not None:
            test_note = "the source's test split"
        else:
            keep, held = split_indices(n, 1.0 - args.test_fraction, seed=args.seed, stratify=targets)
            pool, test_set = keep, _subset(dataset, held)
            test_note = f"stratified hold-out of {held.size} samples ({args.test_fraction:g} of the data)"
    first, second = split_indices(pool.size, 1.0 - args.val_fraction, seed=args.seed, stratify=targets[pool])
    train_idx, val_idx = pool[first], pool[second]

    config = SearchConfig(
        algo=args.algo,
        epochs=args.epochs,
        C=args.C,
        N=args.N,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        proxy=args.proxy,
        ratio=1.0 if args.proxy is None else float(args.ratio),
        proxy_kwargs=kwargs,
        bdp=args.bdp,
        num_workers=args.num_workers,
        progress=progress,
    )
    if args.bdp:
        config.bdp_kwargs = {
            "interval": args.bdp_interval,
            "train_prune_ratio": args.bdp_train_ratio,
            "val_prune_ratio": args.bdp_val_ratio,
            "class_balance": not args.no_class_balance,
        }
    print(
        f"searching with {args.algo} on {args.data}: train split {train_idx.size}, "
        f"validation split {val_idx.size}" + (f", test {len(test_set)}" if test_set is not None else "")
    )
    with _torch_threads(args.threads):
        record = run_search(dataset, train_idx, val_idx, config, table=table)
        record["data"] = args.data
        record["test"] = test_note
        if args.scratch_epochs:
            train_set = _subset(dataset, pool)
            record["from_scratch"] = evaluate_genotype(
                record["genotype"],
                train_set,
                test_set,
                epochs=args.scratch_epochs,
                C=args.C,
                N=args.N,
                batch_size=args.batch_size,
                seed=args.seed,
                device=args.device,
                progress=progress,
                num_classes=int(targets.max()) + 1,
            )
    for line in _search_report(record):
        print(line)
    if args.output:
        _write_json(args.output, record)
        print(f"wrote {args.output}")
    return 0


def _subset(dataset: Any, indices: np.ndarray) -> Any:
    from torch.utils.data import Subset

    return Subset(dataset, np.asarray(indices, dtype=np.int64).tolist())


def _search_report(record: dict[str, Any]) -> list[str]:
    """The human-readable summary printed after a search."""
    from .experiment import data_used

    lines = [f"genotype: {record['genotype']}", f"search seconds: {record['search_seconds']:.1f}"]
    if record.get("proxy_seconds"):
        lines.append(f"proxy selection seconds: {record['proxy_seconds']:.2f}")
    train_pool, val_size = record["train_pool"], record["val_size"]
    line = f"data: training split {record['kept_train']} of {train_pool}"
    if "final_train" in record:
        line += f" (after pruning {record['final_train']}), validation {record['final_val']} of {val_size}"
    else:
        line += f", validation {val_size}"
    lines.append(line)
    lines.append(f"samples processed: {data_used(record):.1%} of the full-data search of the same length")
    for column, acc in (record.get("accuracies") or {}).items():
        lines.append(f"NAS-Bench-201 {column}: {acc:.2f}")
    scratch = record.get("from_scratch")
    if scratch:
        lines.append(
            f"from-scratch test accuracy ({scratch['epochs']} epochs, test: {record['test']}): "
            f"{100.0 * scratch['test_acc']:.2f} %"
        )
    return lines


# --------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """``proxydata demo``: three searches on digits and a side-by-side table."""
    from . import demo

    _check_output_dir(args.output)
    kwargs: dict[str, Any] = {"seed": args.seed, "device": args.device, "progress": _progress(args)}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    if args.scratch_epochs is not None:
        kwargs["scratch_epochs"] = args.scratch_epochs
    with _torch_threads(args.threads):
        result = demo.run_demo(**kwargs)
    print(demo.format_table(result))
    if args.output:
        _write_json(args.output, result)
        print(f"wrote {args.output}")
    return 0


COMMANDS = {"select": cmd_select, "search": cmd_search, "demo": cmd_demo}


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``proxydata`` command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on a bad argument or bad data (one line on stderr),
        130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, TypeError, OSError, ImportError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
