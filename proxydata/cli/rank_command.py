"""``proxydata rank``: does a static proxy keep the ranking of architectures? (a ranking study)."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

import numpy as np

from .._validation import check_fraction, check_ratio, show
from .checks import UsageError, check_int_flags, check_run_inputs
from .holdout import hold_out_test
from .options import METHODS, normalize_method
from .runtime import torch_threads

__all__ = ["QUICK", "cmd_rank", "rank_report"]

#: What ``--quick`` sets (each only where the flag was not given): a study of a
#: minute or two on 2 CPU cores, on scikit-learn's digits, for CI and a first look.
QUICK: dict[str, Any] = {
    "data": "digits",
    "methods": ["rs", "cc-or"],
    "ratios": [0.5],
    "sample": 6,
    "epochs": 2,
    "seeds": 2,
    "C": 4,
    "N": 1,
    "train_size": 600,
    "bootstrap": 100,
}
#: Defaults of the flags ``--quick`` may set (None in the parser, so a given flag is seen).
DEFAULTS: dict[str, Any] = {
    "data": None,
    "methods": ["rs", "cc-rs", "km-or", "cc-or"],
    "ratios": [0.1, 0.25, 0.5],
    "sample": 20,
    "epochs": 12,
    "seeds": 2,
    "C": 8,
    "N": 1,
    "train_size": 0,
    "bootstrap": 1000,
}


def _resolve(args: argparse.Namespace) -> None:
    """Fill each flag not given from ``--quick`` or the defaults (a flag given always wins)."""
    for name, default in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, QUICK[name] if args.quick else default)
    if args.data is None:
        raise UsageError("--data is required (or --quick for a study on digits)")


def _read_architectures(path: str) -> list[str]:
    """Genotype strings from a file: one per line (``#`` comments), or the JSON of a sample file."""
    from ..nas import Genotype

    if not os.path.isfile(path):
        raise UsageError(f"--architectures: no such file {path!r}")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith("{") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--architectures {path!r}: not valid JSON ({exc})") from None
        items = data.get("cells", data) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise UsageError(f"--architectures {path!r}: expected a list of cells (or {{'cells': [...]}})")
        bad = [c for c in items if isinstance(c, dict) and not isinstance(c.get("arch"), str)]
        if bad:
            raise UsageError(
                f"--architectures {path!r}: an entry has no 'arch' genotype string: {show(bad[0])}"
            )
        lines = [c["arch"] if isinstance(c, dict) else c for c in items]
    else:
        lines = [line.split("#")[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
    try:
        return [str(Genotype.parse(line)) for line in lines]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--architectures {path!r}: {exc}") from None


#: Distinct NAS-Bench-201 cells: 5 operations on each of 6 edges.
NB201_CELLS = 5**6


def _random_architectures(k: int, seed: int) -> list[str]:
    """``k`` distinct NAS-Bench-201 cells drawn uniformly (``numpy.random.default_rng(seed)``).

    ``k`` may not exceed the 15,625 cells of the space (checked with the flags).
    """
    from ..nas import NB201_OPS, Genotype

    if k > NB201_CELLS:
        raise UsageError(f"--sample: the NAS-Bench-201 space holds {NB201_CELLS} cells, got {k}")
    rng = np.random.default_rng(seed)
    cells: list[str] = []
    seen: set[str] = set()
    while len(cells) < k:
        cell = str(Genotype(tuple(str(op) for op in rng.choice(NB201_OPS, size=6))))
        if cell not in seen:
            seen.add(cell)
            cells.append(cell)
    return cells


def _check_rank(args: argparse.Namespace) -> str | None:
    _resolve(args)
    args.methods = [normalize_method(m) for m in args.methods]
    for method in args.methods:
        if method not in METHODS:
            raise UsageError(f"--methods: {method!r} is not one of {', '.join(METHODS)}")
    for ratio in args.ratios:
        check_ratio(ratio, "--ratios")
    check_int_flags(
        args,
        {
            "--sample": 3,
            "--epochs": 1,
            "--seeds": 1,
            "--C": 1,
            "--N": 1,
            "--train-size": 0,
            "--batch-size": 1,
            "--bootstrap": 0,
            "--threads": 0,
            "--seed": 0,
        },
    )
    if not args.architectures and args.sample > NB201_CELLS:  # else drawing distinct cells never ends
        raise UsageError(f"--sample must be <= {NB201_CELLS}, the cells of NAS-Bench-201, got {args.sample}")
    check_fraction(args.test_fraction, "--test-fraction", low_open=True, high_open=True)
    return check_run_inputs(args, output_suffixes=(".jsonl",))


def cmd_rank(args: argparse.Namespace) -> int:
    """``proxydata rank``: train sampled architectures on full data and on each proxy; print the agreement."""
    from torch.utils.data import Subset

    from ..fidelity import ranking_study
    from ..nas import NB201Table
    from ..sources import load_source

    table_path = _check_rank(args)
    table = NB201Table(table_path) if table_path else None
    archs = _architectures(args, table)
    progress = not args.no_progress
    dataset = load_source(args.data, download=args.download)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    pool, test_set, test_note = _training_pool(args, dataset, targets)
    train_set = Subset(dataset, pool.tolist())
    print(
        f"ranking {len(archs)} cells on {args.data}: training pool {pool.size}, test {len(test_set)} "
        f"({test_note}), {args.epochs} epochs, {args.seeds} seeds"
    )
    with torch_threads(args.threads):
        selections = _selections(args, train_set, targets[pool], progress)
        study = ranking_study(
            train_set,
            test_set,
            selections,
            archs,
            seeds=range(args.seeds),
            epochs=args.epochs,
            batch_size=args.batch_size,
            table=table,
            truth_column=args.truth_column,
            network_kwargs={
                "C": args.C,
                "N": args.N,
                "num_classes": int(targets.max()) + 1,
                "in_channels": int(train_set[0][0].shape[0]),
            },
            out=args.output,
            settings={"data": args.data, "train_size": int(pool.size), "seed": args.seed},
            device=args.device,
            n_bootstrap=args.bootstrap,
            progress=progress,
        )
    for line in rank_report(study.agreement):
        print(line)
    if args.output:
        print(f"wrote {args.output}")
    return 0


def _architectures(args: argparse.Namespace, table: Any) -> list[str]:
    """The cells to rank: ``--architectures``' file, else a stratified sample of the table, else random."""
    from ..fidelity import sample_nb201_architectures

    if args.architectures:
        return _read_architectures(args.architectures)
    if table is not None:
        return sample_nb201_architectures(table, args.sample, column=args.truth_column, seed=args.seed)
    return _random_architectures(args.sample, args.seed)


def _training_pool(
    args: argparse.Namespace, dataset: Any, targets: np.ndarray
) -> tuple[np.ndarray, Any, str]:
    """The training pool (at most ``--train-size``, stratified), the test data, and how it was made."""
    from ..data import split_indices

    pool, test_set, held = hold_out_test(args, dataset, targets)
    test_note = "the source's test split" if held is None else f"stratified hold-out of {held} samples"
    if args.train_size and args.train_size < pool.size:
        first, _ = split_indices(
            pool.size, args.train_size / pool.size, seed=args.seed, stratify=targets[pool]
        )
        pool = np.sort(pool[first])
    return pool, test_set, test_note


def _selections(
    args: argparse.Namespace, train_set: Any, targets: np.ndarray, progress: bool
) -> dict[str, Any]:
    """Full data (None) and every ``--methods`` proxy at every ``--ratios`` ratio, by name."""
    from ..samplers import make_proxy

    selections: dict[str, Any] = {"full": None}  # None: all of train_set
    for method in args.methods:
        for ratio in args.ratios:
            proxy = make_proxy(
                method, train_set, ratio=ratio, seed=args.seed, targets=targets, progress=progress
            )
            selections[f"{method} r={ratio:g}"] = proxy.indices
    return selections


def _f(value: Any, spec: str = "+.2f") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def rank_report(agreement: list[dict[str, Any]]) -> list[str]:
    """The agreement table printed after a study: one line per selection."""
    truth = "tau_truth" in agreement[0]
    head = f"{'selection':<16} {'r':>5} {'tau':>6} {'tau x':>6} {'ceil':>6} {'top10':>6}"
    head += f" {'tau top':>7} {'ceil top':>8}" + (f" {'tau GT':>6}" if truth else "") + f" {'cost':>6}"
    lines = [head, "-" * len(head)]
    for a in agreement:
        line = (
            f"{a['selection']:<16} {a['ratio']:>5.2f} {_f(a['tau']):>6} {_f(a['tau_cross']):>6} "
            f"{_f(a['ceiling']):>6} {_f(a.get('top_k_overlap'), '.2f'):>6} {_f(a['tau_cross_top']):>7} "
            f"{_f(a['ceiling_top']):>8}"
        )
        if truth:
            line += f" {_f(a.get('tau_truth')):>6}"
        lines.append(line + f" {_f(a['cost'], '.2f'):>6}")
    lines.append(
        "tau: Kendall tau-b of the seed means vs full data; tau x: across different seeds "
        "(compare with ceil, full data's own seed-to-seed tau); top: the better half of the cells"
        + ("; tau GT: vs the table" if truth else "")
    )
    return lines
