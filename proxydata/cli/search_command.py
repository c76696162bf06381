"""``proxydata search``: one NAS-Bench-201 search, its genotype, time, data and accuracies."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .._validation import check_float, check_fraction, check_int, check_ratio
from ..nas.search_options import SPACE_ALGORITHMS
from .checks import UsageError, check_int_flags, check_run_inputs
from .holdout import hold_out_test, source_test_split
from .options import check_proxy_inputs, method_kwargs
from .parser import bdp_default
from .runtime import torch_threads, write_json

__all__ = ["cmd_search", "search_report", "source_test_split"]

_BDP_FLAGS = {
    "interval": "--bdp-interval",
    "train_prune_ratio": "--bdp-train-ratio",
    "val_prune_ratio": "--bdp-val-ratio",
}


def _bdp_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The pruner's keywords: the options given, else the pruner's own defaults."""
    given = {
        "interval": args.bdp_interval,
        "train_prune_ratio": args.bdp_train_ratio,
        "val_prune_ratio": args.bdp_val_ratio,
    }
    if not args.bdp:
        named = [_BDP_FLAGS[k] for k, v in given.items() if v is not None]
        named += ["--no-class-balance"] if args.no_class_balance else []
        if named:
            raise UsageError(f"{named[0]} needs --bdp")
        return {}
    kwargs = {k: bdp_default(k) if v is None else v for k, v in given.items()}
    check_int(kwargs["interval"], "--bdp-interval", minimum=2)  # VoE needs two epochs
    check_fraction(kwargs["train_prune_ratio"], "--bdp-train-ratio", high_open=True)
    check_fraction(kwargs["val_prune_ratio"], "--bdp-val-ratio", high_open=True)
    kwargs["class_balance"] = not args.no_class_balance
    return kwargs


def _check_search(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """Every check of ``search``, before any work: (proxy keywords, pruner keywords, table path)."""
    check_int_flags(
        args, {"--epochs": 1, "--C": 1, "--N": 1, "--batch-size": 1, "--num-workers": 0, "--threads": 0}
    )
    check_int(args.scratch_epochs, "--train-from-scratch", minimum=0)
    check_fraction(args.val_fraction, "--val-fraction", low_open=True, high_open=True)
    check_fraction(args.test_fraction, "--test-fraction", low_open=True, high_open=True)
    adaptive_kwargs = _adaptive_kwargs(args)
    if args.ratio is not None and args.proxy is None and args.adaptive is None:
        raise UsageError("--ratio needs --proxy METHOD or --adaptive glister")
    if args.proxy is not None:
        if args.ratio is None:
            raise UsageError(f"--proxy {args.proxy} needs --ratio R (the kept share, in (0, 1])")
        check_ratio(args.ratio, "--ratio")
    space = getattr(args, "space", "nb201")
    if args.algo not in SPACE_ALGORITHMS[space]:
        raise UsageError(
            f"--algo {args.algo} does not run on --space {space} (choose from {SPACE_ALGORITHMS[space]})"
        )
    if space == "darts" and args.scratch_epochs:
        raise UsageError(
            "--train-from-scratch trains NAS-Bench-201 cells; for DARTS-space cells use "
            "proxydata.nas.spaces.darts.train_darts_network"
        )
    bdp_kwargs = _bdp_kwargs(args)
    proxy_kwargs = method_kwargs(args, args.proxy)
    check_proxy_inputs(args.proxy, proxy_kwargs, "search")
    args.adaptive_kwargs = adaptive_kwargs
    return proxy_kwargs, bdp_kwargs, check_run_inputs(args)


def _adaptive_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The adaptive selector's keywords (``--ratio``, ``--interval``, ``--eta``), checked."""
    given = {"interval": args.interval, "eta": args.eta}
    if args.adaptive is None:
        named = [f"--{k}" for k, v in given.items() if v is not None]
        if named:
            raise UsageError(f"{named[0]} needs --adaptive glister")
        return {}
    for flag, used in (("--proxy", args.proxy is not None), ("--bdp", args.bdp)):
        if used:
            raise UsageError(f"--adaptive {args.adaptive} cannot be combined with {flag}")
    if args.ratio is None:
        raise UsageError(f"--adaptive {args.adaptive} needs --ratio R (the subset's share, in (0, 1])")
    kwargs: dict[str, Any] = {"ratio": check_ratio(args.ratio, "--ratio")}
    if args.interval is not None:
        kwargs["interval"] = check_int(args.interval, "--interval", minimum=1)
    if args.eta is not None:
        kwargs["eta"] = check_float(args.eta, "--eta", strictly_positive=True)
    return kwargs


def _subset(dataset: Any, indices: np.ndarray) -> Any:
    from torch.utils.data import Subset

    return Subset(dataset, np.asarray(indices, dtype=np.int64).tolist())


def _splits(args: argparse.Namespace, dataset: Any, targets: np.ndarray) -> dict[str, Any]:
    """Search splits, and the test data of ``--train-from-scratch`` (which never enters the search).

    The test data is the source's own test split when it has one, else a
    stratified hold-out taken first, before the search splits are made.
    """
    from ..data import split_indices

    pool = np.arange(targets.size, dtype=np.int64)
    test_set, test_note = None, None
    if args.scratch_epochs:
        pool, test_set, held = hold_out_test(args, dataset, targets)
        test_note = "the source's test split"
        if held is not None:
            test_note = f"stratified hold-out of {held} samples ({args.test_fraction:g} of the data)"
    first, second = split_indices(pool.size, 1.0 - args.val_fraction, seed=args.seed, stratify=targets[pool])
    splits = {"pool": pool, "train": pool[first], "val": pool[second]}
    return {**splits, "test_set": test_set, "test_note": test_note}


def cmd_search(args: argparse.Namespace) -> int:
    """``proxydata search``: one search, its genotype, time, data and accuracies."""
    from ..datasets import load_source
    from ..experiment import SearchConfig, evaluate_genotype, run_search
    from ..nas import NB201Table

    proxy_kwargs, bdp_kwargs, table_path = _check_search(args)
    # the NAS-Bench-201 table scores NAS-Bench-201 cells only
    table = NB201Table(table_path) if table_path and getattr(args, "space", "nb201") == "nb201" else None
    dataset = load_source(args.data, download=args.download)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    splits = _splits(args, dataset, targets)
    # the settings the search and the from-scratch training share
    shared = dict(
        C=args.C,
        N=args.N,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        progress=not args.no_progress,
    )
    config = SearchConfig(
        algo=args.algo,
        epochs=args.epochs,
        proxy=args.proxy,
        ratio=1.0 if args.proxy is None else float(args.ratio),
        proxy_kwargs=proxy_kwargs,
        bdp=args.bdp,
        bdp_kwargs=bdp_kwargs,
        adaptive=args.adaptive,
        adaptive_kwargs=args.adaptive_kwargs,
        num_workers=args.num_workers,
        space=getattr(args, "space", "nb201"),
        **shared,
    )
    test_set = splits["test_set"]
    print(
        f"searching with {args.algo} on {args.data}: train split {splits['train'].size}, "
        f"validation split {splits['val'].size}" + (f", test {len(test_set)}" if test_set is not None else "")
    )
    with torch_threads(args.threads):
        found = run_search(dataset, splits["train"], splits["val"], config, table=table)
        record = found.to_dict()
        record["data"] = args.data
        record["test"] = splits["test_note"]
        if args.scratch_epochs:
            pool = _subset(dataset, splits["pool"])
            scratch = evaluate_genotype(
                found.genotype,
                pool,
                test_set,
                epochs=args.scratch_epochs,
                num_classes=int(targets.max()) + 1,
                **shared,
            )
            record["from_scratch"] = scratch.to_dict()
    for line in search_report(record):
        print(line)
    if args.output:
        write_json(args.output, record)
        print(f"wrote {args.output}")
    return 0


def search_report(record: dict[str, Any]) -> list[str]:
    """The human-readable summary printed after a search."""
    from ..experiment import data_used

    lines = [f"genotype: {record['genotype']}", f"search seconds: {record['search_seconds']:.1f}"]
    cost = record.get("adaptive_selection_cost")
    if cost:
        lines.append(
            f"adaptive selection cost: {cost['selections']} selections, {cost['samples']} sample passes, "
            f"{cost['cpu_seconds']:.2f} CPU s"
        )
    if record.get("proxy_seconds"):
        lines.append(f"proxy selection seconds: {record['proxy_seconds']:.2f}")
    cost = record.get("proxy_selection_cost")
    if cost:
        lines.append(
            f"proxy selection cost: {cost['samples']} sample passes, {cost['cpu_seconds']:.2f} CPU s"
        )
    train_pool, val_size = record["train_pool"], record["val_size"]
    line = f"data: training split {record['kept_train']} of {train_pool}"
    if "final_train" in record:
        what = "adaptive subset" if (record.get("config") or {}).get("adaptive") else "after pruning"
        line += f" ({what} {record['final_train']}), validation {record['final_val']} of {val_size}"
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
