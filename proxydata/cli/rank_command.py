"""``proxydata rank``: does a static proxy keep the ranking of architectures? (a ranking study)."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

import numpy as np

from .._validation import check_fraction, check_ratio
from .checks import UsageError, check_int_flags, check_run_inputs
from .holdout import hold_out_test
from .options import METHODS, check_proxy_inputs, normalize_method, rank_method_kwargs
from .runtime import torch_threads

__all__ = ["QUICK", "cmd_rank", "plural", "rank_report", "stratified_exact"]

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
        lines = [c["arch"] if isinstance(c, dict) else c for c in items]
    else:
        lines = [line.split("#")[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
    try:
        return [str(Genotype.parse(line)) for line in lines]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--architectures {path!r}: {exc}") from None


def _random_architectures(k: int, seed: int) -> list[str]:
    """``k`` distinct NAS-Bench-201 cells drawn uniformly (``numpy.random.default_rng(seed)``)."""
    from ..nas import NB201_OPS, Genotype

    rng = np.random.default_rng(seed)
    cells: list[str] = []
    while len(cells) < k:
        cell = str(Genotype(tuple(str(op) for op in rng.choice(NB201_OPS, size=6))))
        if cell not in cells:
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
        },
    )
    check_fraction(args.test_fraction, "--test-fraction", low_open=True, high_open=True)
    args.method_kwargs = rank_method_kwargs(args, args.methods)
    for method, kwargs in args.method_kwargs.items():
        check_proxy_inputs(method, kwargs, "rank")
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
        f"({test_note}), {plural(args.epochs, 'epoch')}, {plural(args.seeds, 'seed')}"
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
    for line in rank_report(_verdict_agreement(study, args)):
        print(line)
    if args.output:
        print(f"wrote {args.output}")
    return 0


def _verdict_agreement(study: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The study's agreement with family-wise intervals (Bonferroni), for the verdicts printed."""
    from ..fidelity import family_agreement

    if not args.bootstrap:
        return study.agreement
    return family_agreement(
        study.rows,
        truth_column=args.truth_column if "tau_truth" in study.agreement[0] else None,
        n_bootstrap=args.bootstrap,
    )


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

    pool, test_set, held = hold_out_test(args, dataset, targets)
    test_note = "the source's test split" if held is None else f"stratified hold-out of {held} samples"
    if args.train_size and args.train_size < pool.size:
        pool = np.sort(pool[stratified_exact(targets[pool], args.train_size, args.seed)])
    return pool, test_set, test_note


def stratified_exact(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Positions of exactly ``k`` of ``labels``, class proportions kept by largest remainders.

    Class ``c`` of ``n_c`` of the ``n`` labels gets ``floor(k * n_c / n)``; the
    ``k - sum`` places left go one each to the classes of the largest remainders
    ``k * n_c mod n`` (ties: the smaller class id). Rounding every class's share
    on its own (``split_indices``) can miss ``k`` by up to half the number of
    classes: ``--train-size 600`` of digits gave 601. Members are drawn by
    ``numpy.random.default_rng(seed)``; the result is sorted.
    """
    classes, counts = np.unique(labels, return_counts=True)
    n = int(labels.size)
    quota = (k * counts) // n
    left = k - int(quota.sum())
    order = np.lexsort((classes, -((k * counts) % n)))  # largest remainder first, then class id
    quota[order[:left]] += 1
    rng = np.random.default_rng(seed)
    parts = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def plural(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"2 epochs"``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _selections(
    args: argparse.Namespace, train_set: Any, targets: np.ndarray, progress: bool
) -> dict[str, Any]:
    """Full data (None) and every ``--methods`` proxy at every ``--ratios`` ratio, by name.

    Each proxy gets the method options given that its method takes (``--clusters``, ...).
    """
    from ..samplers import make_proxy

    selections: dict[str, Any] = {"full": None}  # None: all of train_set
    for method in args.methods:
        for ratio in args.ratios:
            proxy = make_proxy(
                method,
                train_set,
                ratio=ratio,
                seed=args.seed,
                targets=targets,
                progress=progress,
                **getattr(args, "method_kwargs", {}).get(method, {}),
            )
            selections[f"{method} r={ratio:g}"] = proxy.indices
    return selections


def _f(value: Any, spec: str = "+.2f") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def rank_report(agreement: list[dict[str, Any]]) -> list[str]:
    """The agreement table printed after a study, then one verdict line per selection.

    Columns are what they print: ``top<k>`` is the top-k overlap at the ``k``
    actually used (``top_k`` capped at the number of cells); ``tau x top`` is
    ``tau_cross_top``. The verdicts follow ``docs/methods/fidelity.md``: keeps /
    loses / undecided on the gap to the ceiling against the margin ``-delta``, and
    better / worse / cannot tell against random selection of the same size.
    """
    truth = "tau_truth" in agreement[0]
    arms = len({a.get("arm", "epochs") for a in agreement}) > 1
    k = agreement[0].get("top_k", 10)
    head = f"{'selection':<16}" + (f" {'arm':>6}" if arms else "")
    head += f" {'r':>5} {'tau':>6} {'tau x':>6} {'ceil':>6} {f'top{k}':>6} {'p@5':>5}"
    head += f" {'tau x top':>9} {'ceil top':>8}" + (f" {'tau GT':>6}" if truth else "") + f" {'cost':>6}"
    lines = [head, "-" * len(head)]
    for a in agreement:
        line = f"{a['selection']:<16}" + (f" {a.get('arm', 'epochs'):>6}" if arms else "")
        line += (
            f" {a['ratio']:>5.2f} {_f(a['tau']):>6} {_f(a['tau_cross']):>6} "
            f"{_f(a['ceiling']):>6} {_f(a.get('top_k_overlap'), '.2f'):>6} "
            f"{_f(a.get('precision_at_5'), '.2f'):>5} {_f(a['tau_cross_top']):>9} {_f(a['ceiling_top']):>8}"
        )
        if truth:
            line += f" {_f(a.get('tau_truth')):>6}"
        lines.append(line + f" {_f(a['cost'], '.2f'):>6}")
    lines.append(
        f"tau: Kendall tau-b of the seed means vs full data; tau x: across different seeds "
        f"(compare with ceil, full data's own seed-to-seed tau); top{k}: share of full data's top {k} "
        "cells also in the selection's; p@5: the same at k = 5; tau x top / ceil top: over the better "
        "half of the cells" + ("; tau GT: vs the table" if truth else "")
    )
    lines.extend(verdict_lines(agreement))
    return lines


def _ci(interval: Any) -> str:
    if not interval:
        return "[—, —]"
    return f"[{_f(interval[0])}, {_f(interval[1])}]"


def verdict_lines(agreement: list[dict[str, Any]]) -> list[str]:
    """One line per selection: its margin verdict and its comparison with random, with intervals."""
    if not agreement or "verdict" not in agreement[0]:
        return []
    ref = agreement[0]
    conf = ref.get("confidence", 0.95)
    lines = [
        f"verdicts (docs/methods/fidelity.md; {100 * conf:.1f} % intervals, bootstrap seed "
        f"{ref.get('bootstrap_seed', 0)}): keeps if gap = tau x - ceil lies above -delta = "
        f"{_f(-ref.get('delta', float('nan')))}, loses if below, else undecided"
    ]
    for a in agreement[1:]:
        name = a["selection"] + (f" [{a['arm']}]" if a.get("arm", "epochs") != "epochs" else "")
        line = f"  {name:<22} {a['verdict']:<9} gap {_f(a['gap'])} {_ci(a.get('gap_ci'))}"
        if "vs_random" in a:
            line += (
                f"; vs {a['random']}: {a['vs_random_verdict']} {_f(a['vs_random'])} "
                f"{_ci(a.get('vs_random_ci'))}"
            )
        lines.append(line)
    return lines
