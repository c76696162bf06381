"""Ranking fidelity on CIFAR-10: does each data selection keep the order of NAS-Bench-201 cells?

Four steps, each resumable and each writing its own file under ``benchmarks/results/``:

``sample``
    Draw the fixed architecture sample: ``--cells`` (60) NAS-Bench-201 cells,
    one from each of 60 equal-count strata of the table's CIFAR-10 200-epoch
    accuracy (:func:`proxydata.fidelity.sample_nb201_architectures`, seed 0);
    written to ``ranking_architectures.json`` with how it was drawn.
``pilot``
    The noise ceiling first: full data's seed-to-seed Kendall tau for recipes of
    equal cost (pool size x epochs = constant), on a stratified subset of the
    sample; one file per recipe, ``ranking_pilot_<recipe>.jsonl``.
``study``
    Every cell of the sample trained on full data, on each of the six Moser
    proxies at r in {0.1, 0.25, 0.5} and on BDP's final kept training set
    (a paper-strength DARTS-V1 search on the same pool), 2 seeds, at the chosen
    recipe; ``ranking.jsonl`` (the selections' indices in ``ranking_selections.json``).
``report``
    Print the agreement table of a study file.

Run in the background, e.g. ``nice python benchmarks/ranking_study.py study --shard 0/2 &``
and ``--shard 1/2`` for two processes on one file; a rerun continues where it stopped.
The shared data (``$PROXYDATA_SHARED_DATA`` or ``../shared/data``) must hold
``cifar10_16x16.npz``, ``cifar10.npz`` (for 32 px), ``nb201_splits.npz`` and
``nb201_accuracies.csv.gz``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ARCH_FILE = RESULTS / "ranking_architectures.json"
SELECTIONS_FILE = RESULTS / "ranking_selections.json"
STUDY_FILE = RESULTS / "ranking.jsonl"
METHODS = ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl")
RATIOS = (0.1, 0.25, 0.5)
TRUTH = "cifar10_test_200ep"

#: The first pilot's recipes (equal cost, pool x epochs = 8,000 sample-epochs; per-epoch
#: cosine, C = 8, N = 1, 16 px, batch 64): kept to read the old files ``ranking_pilot_p*.jsonl``.
RECIPES: dict[str, dict[str, Any]] = {
    "p500-e16": {"pool": 500, "epochs": 16},
    "p1000-e8": {"pool": 1000, "epochs": 8},
    "p2000-e4": {"pool": 2000, "epochs": 4},
}
NETWORK = {"C": 8, "N": 1, "num_classes": 10, "in_channels": 3}
BATCH = 64
TEST_SIZE = 2000
RESOLUTION = 16

#: The second pilot (issue 28): recipes with a per-step schedule
#: (:class:`proxydata.fidelity.TrainRecipe`), varying resolution, pool, epochs, schedule,
#: width C, depth N, label smoothing and batch size. Ordered by expected cost.
PILOT_RECIPES: dict[str, dict[str, Any]] = {
    "r16-p2000-e8-c8n1-b64-cos": {
        "resolution": 16,
        "pool": 2000,
        "epochs": 8,
        "batch": 64,
        "train": {"C": 8, "N": 1, "schedule": "cosine", "lr": 0.1, "label_smoothing": 0.0},
    },
    "r16-p4000-e5-c8n1-b128-1cyc-ls": {
        "resolution": 16,
        "pool": 4000,
        "epochs": 5,
        "batch": 128,
        "train": {"C": 8, "N": 1, "schedule": "onecycle", "lr": 0.2, "warmup": 0.25, "label_smoothing": 0.1},
    },
    "r16-p10000-e2-c8n1-b128-1cyc-ls": {
        "resolution": 16,
        "pool": 10000,
        "epochs": 2,
        "batch": 128,
        "train": {"C": 8, "N": 1, "schedule": "onecycle", "lr": 0.2, "warmup": 0.25, "label_smoothing": 0.1},
    },
    "r16-p2000-e8-c8n2-b128-cos-ls": {
        "resolution": 16,
        "pool": 2000,
        "epochs": 8,
        "batch": 128,
        "train": {"C": 8, "N": 2, "schedule": "cosine", "lr": 0.1, "label_smoothing": 0.1},
    },
    "r16-p2000-e6-c16n1-b128-cos-ls": {
        "resolution": 16,
        "pool": 2000,
        "epochs": 6,
        "batch": 128,
        "train": {"C": 16, "N": 1, "schedule": "cosine", "lr": 0.1, "label_smoothing": 0.1},
    },
    "r32-p1000-e8-c8n1-b64-cos": {
        "resolution": 32,
        "pool": 1000,
        "epochs": 8,
        "batch": 64,
        "train": {"C": 8, "N": 1, "schedule": "cosine", "lr": 0.1, "label_smoothing": 0.0},
    },
}
PILOT_DIR = RESULTS / "ranking_pilot"


def shared_data_dir() -> Path:
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        raise SystemExit(f"shared data not found at {path}: set PROXYDATA_SHARED_DATA")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_table() -> Any:
    from proxydata.nas import NB201Table

    return NB201Table(shared_data_dir() / "nb201_accuracies.csv.gz")


def stratified(labels: np.ndarray, pool: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` of the ``pool`` positions with the pool's class proportions (sorted)."""
    from proxydata.data import split_indices

    first, _ = split_indices(pool.size, size / pool.size, seed=seed, stratify=labels[pool])
    return np.sort(pool[first])


def load_data(
    pool_size: int, resolution: int = RESOLUTION
) -> tuple[TensorDataset, TensorDataset, TensorDataset, dict[str, Any]]:
    """The training pool, a validation split of the same size (for BDP's search) and the test set.

    The pool is a class-stratified draw (seed 0) from NAS-Bench-201's
    ``cifar10valid_train`` half, the validation split one (seed 1) from its
    ``cifar10valid_valid`` half, the test set ``TEST_SIZE`` stratified CIFAR-10
    test images (seed 2). Float tensors in [0, 1], channels first.
    """
    data = shared_data_dir()
    name = {16: "cifar10_16x16.npz", 32: "cifar10.npz"}[resolution]
    with np.load(data / name) as z:
        x, y, xt, yt = z["x_train"], z["y_train"].astype(np.int64), z["x_test"], z["y_test"].astype(np.int64)
    with np.load(data / "nb201_splits.npz") as z:
        train_half, valid_half = (
            z["cifar10valid_train"].astype(np.int64),
            z["cifar10valid_valid"].astype(np.int64),
        )
    pool = stratified(y, train_half, pool_size, 0)
    val = stratified(y, valid_half, pool_size, 1)
    test = stratified(yt, np.arange(yt.size), TEST_SIZE, 2)

    def tensors(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
        t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        return TensorDataset(t.contiguous(), torch.from_numpy(labels))

    provenance = {
        "data": f"{name} sha256 {sha256(data / name)[:16]}",
        "pool": f"{pool_size} of nb201 cifar10valid_train, stratified, seed 0",
        "test": f"{TEST_SIZE} CIFAR-10 test images, stratified, seed 2",
        "resolution": resolution,
    }
    return tensors(x[pool], y[pool]), tensors(x[val], y[val]), tensors(xt[test], yt[test]), provenance


def cmd_sample(args: argparse.Namespace) -> int:
    from proxydata.fidelity import sample_nb201_architectures

    table = load_table()
    cells = sample_nb201_architectures(table, args.cells, column=TRUTH, seed=0)
    record = {
        "how": (
            f"{args.cells} NAS-Bench-201 cells: the table's cells sorted by {TRUTH} (ties by genotype "
            f"string) cut into {args.cells} equal-count strata, one cell drawn uniformly from each "
            "with numpy.random.default_rng(0) (proxydata.fidelity.sample_nb201_architectures)"
        ),
        "table_sha256": sha256(Path(table.path)),
        "column": TRUTH,
        "seed": 0,
        "cells": [{"arch": c, TRUTH: table.lookup(c)[TRUTH]} for c in cells],
    }
    ARCH_FILE.write_text(json.dumps(record, indent=1) + "\n")
    accs = [c[TRUTH] for c in record["cells"]]
    print(f"{len(cells)} cells, {TRUTH} from {min(accs):.2f} to {max(accs):.2f} -> {ARCH_FILE}")
    return 0


def sample_cells() -> list[str]:
    if not ARCH_FILE.exists():
        raise SystemExit(f"{ARCH_FILE} missing: run the 'sample' step first")
    return [c["arch"] for c in json.loads(ARCH_FILE.read_text())["cells"]]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be i/n, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return i, n


def cmd_pilot(args: argparse.Namespace) -> int:
    from proxydata.fidelity import ranking_study

    cells = sample_cells()
    # every (len/k)-th cell of the stratified sample: a stratified subset
    pilot_cells = cells[:: max(1, len(cells) // args.pilot_cells)][: args.pilot_cells]
    table = load_table()
    for name in args.recipes:
        recipe = RECIPES[name]
        pool, _, test, provenance = load_data(recipe["pool"])
        out = RESULTS / f"ranking_pilot_{name}.jsonl"
        study = ranking_study(
            pool,
            test,
            {"full": None},
            pilot_cells,
            seeds=range(args.seeds),
            epochs=recipe["epochs"],
            batch_size=BATCH,
            table=table,
            truth_column=TRUTH,
            network_kwargs=NETWORK,
            out=out,
            settings={"recipe": name, **provenance},
            shard=args.shard,
            n_bootstrap=0,
            progress=not args.no_progress,
        )
        ref = study.agreement[0]
        nan = float("nan")
        print(
            f"{name}: {ref['architectures']} complete cells, seed-to-seed tau {ref['ceiling']:.3f} "
            f"(top half {ref['ceiling_top']:.3f}), tau vs NB201 {ref.get('tau_truth', nan):.3f}"
        )
    return 0


_DATA_CACHE: dict[tuple[int, int], Any] = {}


def cached_data(pool: int, resolution: int) -> Any:
    """:func:`load_data`, decompressed once per (pool, resolution) in this process."""
    if (pool, resolution) not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one at a time: the 32 px arrays are large
        _DATA_CACHE[pool, resolution] = load_data(pool, resolution)
    return _DATA_CACHE[pool, resolution]


def recipe_of(spec: dict[str, Any]) -> Any:
    from proxydata.fidelity import TrainRecipe

    return TrainRecipe(num_classes=10, in_channels=3, **spec["train"])


def retry_empty(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; when a shard sharing the file has created it but not yet written its header, retry."""
    from proxydata.exceptions import ProxydataValueError

    for attempt in range(10):
        try:
            return fn(*args, **kwargs)
        except ProxydataValueError as exc:
            if "is empty" not in str(exc) or attempt == 9:
                raise
            time.sleep(3)
    return None


def cmd_recipe_pilot(args: argparse.Namespace) -> int:
    """Issue 28's pilot: full data only, seed-major over the recipes (every recipe's seed 0 first)."""
    from proxydata.fidelity import ranking_study

    cells = sample_cells()
    pilot_cells = cells[:: max(1, len(cells) // args.pilot_cells)][: args.pilot_cells]
    table = load_table()
    out_dir = Path(args.out_dir)
    for seed in range(args.seeds):
        for name in args.recipes:
            spec = PILOT_RECIPES[name]
            pool, _, test, provenance = cached_data(spec["pool"], spec["resolution"])
            recipe = recipe_of(spec)
            study = retry_empty(
                ranking_study,
                pool,
                test,
                {"full": None},
                pilot_cells,
                seeds=range(seed + 1),
                epochs=spec["epochs"],
                batch_size=spec["batch"],
                table=table,
                truth_column=TRUTH,
                train_fn=recipe,
                out=out_dir / f"{name}.jsonl",
                settings={"recipe": name, "train_recipe": recipe.to_dict(), **provenance},
                shard=args.shard,
                n_bootstrap=0,
                progress=not args.no_progress,
            )
            ref = study.agreement[0]
            cpu = sum(r["cpu_seconds"] for r in study.rows)
            print(
                f"seed {seed} {name}: {ref['architectures']} cells, tau vs NB201 "
                f"{ref.get('tau_truth', float('nan')):.3f}, seed-to-seed {ref['ceiling']:.3f}, "
                f"cpu {cpu / 60:.1f} min",
                flush=True,
            )
    return 0


def build_selections(recipe: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Every selection of the study as pool positions, computed once and saved."""
    from torch.utils.data import DataLoader

    from proxydata import BiLevelPruner, IndexedDataset, make_proxy
    from proxydata.nas import SearchNetwork, search

    if SELECTIONS_FILE.exists():
        saved = json.loads(SELECTIONS_FILE.read_text())
        if saved["recipe"] == args.recipe:
            return saved
        raise SystemExit(f"{SELECTIONS_FILE} belongs to recipe {saved['recipe']!r}, not {args.recipe!r}")
    pool, val, _, _ = load_data(recipe["pool"])
    y = pool.tensors[1].numpy()
    selections: dict[str, Any] = {"full": None}
    seconds: dict[str, float] = {}
    kwargs = {
        "km-or": {"n_clusters": 50},
        "ae": {"epochs": 10},
        "tl": {"backbone": "scratch", "epochs": 10, "score_epoch": 10},
    }
    for method in METHODS:
        for ratio in RATIOS:
            start = time.process_time()
            proxy = make_proxy(
                method, pool, ratio=ratio, seed=0, targets=y, progress=False, **kwargs.get(method, {})
            )
            selections[f"{method} r={ratio}"] = proxy.indices.tolist()
            seconds[f"{method} r={ratio}"] = time.process_time() - start
            print(f"{method} r={ratio}: {proxy.indices.size} kept", flush=True)
    # BDP at the paper's strength: DARTS-V1, 20 epochs, prune every 2 epochs 9 x 10.67 %
    # of each split (each ends at 4 %), our class-balance limit; its final kept training set.
    both = TensorDataset(
        torch.cat([pool.tensors[0], val.tensors[0]]), torch.cat([pool.tensors[1], val.tensors[1]])
    )
    n = len(pool)
    targets = both.tensors[1].numpy()
    start = time.process_time()
    pruner = BiLevelPruner(
        targets,
        np.arange(n),
        np.arange(n, 2 * n),
        epochs=20,
        interval=2,
        train_prune_ratio=round(0.96 / 9, 4),
        val_prune_ratio=round(0.96 / 9, 4),
        seed=0,
    )
    ds = IndexedDataset(both)
    result = search(
        SearchNetwork(**NETWORK, algo="darts", seed=0),
        DataLoader(ds, batch_size=BATCH, sampler=pruner.train_sampler),
        DataLoader(ds, batch_size=BATCH, sampler=pruner.val_sampler),
        algo="darts-v1",
        epochs=20,
        pruner=pruner,
        seed=0,
        progress=False,
    )
    selections["bdp 4%"] = np.sort(pruner.kept_train).tolist()
    seconds["bdp 4%"] = time.process_time() - start
    print(f"bdp: {len(selections['bdp 4%'])} kept, found {result.genotype}", flush=True)
    saved = {
        "recipe": args.recipe,
        "how": {
            "proxies": "make_proxy(method, pool, ratio, seed=0) with " + json.dumps(kwargs),
            "bdp": "DARTS-V1 search C=8 N=1, 20 epochs, batch 64, BiLevelPruner(interval=2, "
            "train/val_prune_ratio=0.1067, class_balance=True, seed=0) on the pool + a validation "
            "split of the same size; the final kept_train",
        },
        "cpu_seconds": seconds,
        "selections": selections,
    }
    SELECTIONS_FILE.write_text(json.dumps(saved) + "\n")
    return saved


def cmd_study(args: argparse.Namespace) -> int:
    from proxydata.fidelity import ranking_study

    recipe = RECIPES[args.recipe]
    saved = build_selections(recipe, args)
    pool, _, test, provenance = load_data(recipe["pool"])
    study = ranking_study(
        pool,
        test,
        saved["selections"],
        sample_cells(),
        seeds=range(args.seeds),
        epochs=recipe["epochs"],
        batch_size=BATCH,
        table=load_table(),
        truth_column=TRUTH,
        network_kwargs=NETWORK,
        out=STUDY_FILE,
        settings={"recipe": args.recipe, **provenance},
        shard=args.shard,
        n_bootstrap=0,
        progress=not args.no_progress,
    )
    print(f"{len(study.rows)} rows in {STUDY_FILE}")
    return 0


#: Issue 31's selection methods, by their registry names (joined the study once on main).
LATER_METHODS = ("entropy", "forgetting", "grand", "el2n", "herding", "k-center")
#: Extra arguments of the proxies in the study: the Moser proxies as the first study's;
#: GraNd and EL2N averaged over 2 initialisations / runs instead of their papers' 10 (budget).
PROXY_KWARGS: dict[str, dict[str, Any]] = {
    "km-or": {"n_clusters": 50},
    "ae": {"epochs": 10},
    "tl": {"backbone": "scratch", "epochs": 10, "score_epoch": 10},
    "grand": {"n_seeds": 2},
    "el2n": {"n_seeds": 2},
}


def study_paths(recipe: str) -> tuple[Path, Path]:
    """The study file of ``recipe`` and its selections file (one per pool size and resolution).

    Both in ``benchmarks/results/``; recipes of the same pool and resolution share
    their selections (the proxies and BDP's search see only the pool's images).
    """
    spec = PILOT_RECIPES[recipe]
    selections = RESULTS / f"ranking_selections_p{spec['pool']}_r{spec['resolution']}.json"
    return RESULTS / f"ranking_{recipe}.jsonl", selections


def bdp_selection(pool: TensorDataset, val: TensorDataset, seed: int = 0) -> tuple[np.ndarray, str]:
    """BDP's final kept training set of a paper-strength DARTS-V1 search on ``pool`` (+ ``val``).

    Tu et al.'s schedule: 20 epochs, prune every 2 epochs, 9 prunings of 10.67 % of
    each split (each ends at 4 %), class balance kept (the library's limit).
    """
    from torch.utils.data import DataLoader

    from proxydata import BiLevelPruner, IndexedDataset
    from proxydata.nas import SearchNetwork, search

    both = TensorDataset(
        torch.cat([pool.tensors[0], val.tensors[0]]), torch.cat([pool.tensors[1], val.tensors[1]])
    )
    n = len(pool)
    pruner = BiLevelPruner(
        both.tensors[1].numpy(),
        np.arange(n),
        np.arange(n, n + len(val)),  # the stratified draws may differ in size by a sample or two
        epochs=20,
        interval=2,
        train_prune_ratio=round(0.96 / 9, 4),
        val_prune_ratio=round(0.96 / 9, 4),
        seed=seed,
    )
    ds = IndexedDataset(both)
    result = search(
        SearchNetwork(**NETWORK, algo="darts", seed=seed),
        DataLoader(ds, batch_size=BATCH, sampler=pruner.train_sampler),
        DataLoader(ds, batch_size=BATCH, sampler=pruner.val_sampler),
        algo="darts-v1",
        epochs=20,
        pruner=pruner,
        seed=seed,
        progress=False,
    )
    return np.sort(np.asarray(pruner.kept_train)), str(result.genotype)


def _method_of(name: str) -> str:
    return name.split(" r=")[0]


def build_arm_selections(args: argparse.Namespace) -> dict[str, Any]:
    """The selections of the arms study at ``args.recipe``: computed once, saved, reused on resume.

    Full data; every method of ``args.methods`` (a lookup in the sampler registry,
    :func:`proxydata.samplers.registered_methods`) at every ratio; BDP's kept set
    named by the share it really kept (``bdp r=<share>``) and a uniform random
    selection of exactly its size (``rs r=<share>``), its random counterpart.
    """
    from proxydata import make_proxy
    from proxydata.samplers import registered_methods

    spec = PILOT_RECIPES[args.recipe]
    _, sel_file = study_paths(args.recipe)
    if sel_file.exists():
        saved = json.loads(sel_file.read_text())
        if (saved["pool"], saved["resolution"]) != (spec["pool"], spec["resolution"]):
            raise SystemExit(f"{sel_file} belongs to another pool or resolution")
        return saved
    pool, val, _, _ = cached_data(spec["pool"], spec["resolution"])
    y = pool.tensors[1].numpy()
    known = set(registered_methods())
    partial = sel_file.with_suffix(".partial.json")  # the proxies done so far: a rerun goes on from here
    done = json.loads(partial.read_text()) if partial.exists() else {"selections": {}, "cpu_seconds": {}}
    selections: dict[str, Any] = {"full": None, **done["selections"]}
    seconds: dict[str, float] = dict(done["cpu_seconds"])
    for method in args.methods:
        if method not in known:
            print(f"{method}: not in the sampler registry, skipped", flush=True)
            continue
        for ratio in RATIOS:
            if f"{method} r={ratio}" in selections:
                continue
            start = time.process_time()
            kwargs = PROXY_KWARGS.get(method, {})
            proxy = make_proxy(method, pool, ratio=ratio, seed=0, targets=y, progress=False, **kwargs)
            selections[f"{method} r={ratio}"] = np.sort(proxy.indices).tolist()
            seconds[f"{method} r={ratio}"] = time.process_time() - start
            print(f"{method} r={ratio}: {proxy.indices.size} kept", flush=True)
            keep = {k: v for k, v in selections.items() if k != "full"}
            partial.write_text(json.dumps({"selections": keep, "cpu_seconds": seconds}))
    start = time.process_time()
    kept, genotype = bdp_selection(pool, val)
    share = kept.size / len(pool)
    bdp_name = f"bdp r={share:.3f}"
    seconds[bdp_name] = time.process_time() - start
    rs = make_proxy("rs", pool, ratio=kept.size / len(pool), seed=0, progress=False)
    # the study's order (seed-major runs go through it): Moser's six, BDP and its random twin, the rest
    moser = [k for k in selections if k == "full" or _method_of(k) in METHODS]
    rest = {k: v for k, v in selections.items() if k not in moser}
    selections = {k: selections[k] for k in moser}
    selections[bdp_name] = kept.tolist()
    selections[f"rs r={share:.3f}"] = np.sort(rs.indices).tolist()
    selections.update(rest)
    print(f"bdp: {kept.size} kept ({share:.3f}), found {genotype}", flush=True)
    saved = {
        "pool": spec["pool"],
        "resolution": spec["resolution"],
        "how": {
            "proxies": "make_proxy(method, pool, ratio, seed=0) with " + json.dumps(PROXY_KWARGS),
            "bdp": "DARTS-V1 search C=8 N=1, 20 epochs, batch 64, BiLevelPruner(interval=2, "
            "train/val_prune_ratio=0.1067, class_balance=True, seed=0) on the pool + a validation "
            f"split of the same size; the final kept_train ({kept.size} of {len(pool)}); "
            f"found {genotype}",
            "rs at bdp's share": "make_proxy('rs', pool, ratio=|kept|/|pool|, seed=0)",
        },
        "methods_asked": list(args.methods),
        "cpu_seconds": seconds,
        "selections": selections,
    }
    sel_file.write_text(json.dumps(saved) + "\n")
    partial.unlink(missing_ok=True)
    return saved


def moser_selections_so_far(recipe: str) -> dict[str, Any]:
    """Full data and the Moser proxies already made (the saved or the partial selections file).

    For ``--moser-first``: the study starts on them while BDP's search and the other
    selections are still being made; a later launch with every selection goes on
    from the same file (the plan stays seed-major, the runs done are skipped).
    """
    _, sel_file = study_paths(recipe)
    partial = sel_file.with_suffix(".partial.json")
    source = sel_file if sel_file.exists() else partial
    made = json.loads(source.read_text())["selections"]
    picked = {k: v for k, v in made.items() if k != "full" and _method_of(k) in METHODS}
    if len(picked) < len(METHODS) * len(RATIOS):
        raise SystemExit(
            f"{source} holds {len(picked)} Moser selections, not yet all {len(METHODS) * len(RATIOS)}"
        )
    return {"full": None, **picked}


def cmd_arms_study(args: argparse.Namespace) -> int:
    """Issue 28's study: both arms, seed-major, at a pilot recipe; resumable and sharded."""
    from proxydata.fidelity import ranking_study

    spec = PILOT_RECIPES[args.recipe]
    out = Path(args.out) if args.out else study_paths(args.recipe)[0]
    # --reference-only: full data's runs (the first of the plan) while the selections are being made
    if args.reference_only:
        saved: dict[str, Any] = {"selections": {"full": None}}
    elif args.moser_first:
        saved = {"selections": moser_selections_so_far(args.recipe)}
    else:
        saved = build_arm_selections(args)
    if args.selections_only:
        return 0
    record_launch(out.with_name(out.stem + "_launches.jsonl"), args)
    pool, _, test, provenance = cached_data(spec["pool"], spec["resolution"])
    recipe = recipe_of(spec)
    study = retry_empty(
        ranking_study,
        pool,
        test,
        saved["selections"],
        sample_cells(),
        seeds=range(args.seeds),
        epochs=spec["epochs"],
        batch_size=spec["batch"],
        table=load_table(),
        truth_column=TRUTH,
        train_fn=recipe,
        out=out,
        settings={"recipe": args.recipe, "train_recipe": recipe.to_dict(), **provenance},
        shard=args.shard,
        n_bootstrap=0,
        progress=not args.no_progress,
        arms=("epochs", "steps"),
    )
    print(f"{len(study.rows)} rows in {out}")
    return 0


def record_launch(path: Path, args: argparse.Namespace) -> None:
    """Append this process's launch (argv, shard, environment incl. git commit) to ``path``."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from provenance import environment

    line = {
        "argv": sys.argv[1:],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "environment": environment(REPO),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def cmd_pilot_summary(args: argparse.Namespace) -> int:
    """Copy the pilot's files into ``benchmarks/results/ranking_pilot/``; write ranking_pilot.md/.jsonl."""
    import shutil

    sys.path.insert(0, str(REPO / "benchmarks"))
    from provenance import environment
    from report.ranking_arms import choose_recipe, pilot_markdown, pilot_summary

    if args.source:
        PILOT_DIR.mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(args.source).glob("*.jsonl")):
            shutil.copyfile(path, PILOT_DIR / path.name)
    summary = pilot_summary(RESULTS)
    chosen, reason = choose_recipe(summary)
    command = "python benchmarks/ranking_study.py recipe-pilot --shard i/5 (i = 0..4)"
    md = [
        "# Ranking-recipe pilot (issue 28)",
        "",
        f"Made by `{command}` (files in `benchmarks/results/ranking_pilot/`), summarised by "
        "`python benchmarks/ranking_study.py pilot-summary`. Full data only, 20 cells (every third of "
        "`ranking_architectures.json`), 2 seeds, one CPU thread per run on a shared 2-core machine. "
        "Recipes are defined in `PILOT_RECIPES` of `benchmarks/ranking_study.py`.",
        "",
        *pilot_markdown(summary, chosen, reason),
        "",
    ]
    (RESULTS / "ranking_pilot.md").write_text("\n".join(md))
    env = environment(REPO)
    with open(RESULTS / "ranking_pilot.jsonl", "w", encoding="utf-8") as fh:
        for row in summary:
            fh.write(
                json.dumps({**row, "chosen": row["recipe"] == chosen, "summary_environment": env}) + "\n"
            )
    print("\n".join(md))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from proxydata.fidelity import read_study, study_agreement

    _, rows = read_study(args.file)
    for a in study_agreement(rows, truth_column=TRUTH, n_bootstrap=args.bootstrap):
        print(
            f"{a['selection']:>14}  n={a['architectures']:3d}  tau={a['tau']:+.3f}"
            f"  cross={a['tau_cross']:+.3f}  ceiling={a['ceiling']:+.3f}"
            f"  top: cross={a['tau_cross_top']:+.3f} ceiling={a['ceiling_top']:+.3f}"
            f"  truth={a.get('tau_truth', float('nan')):+.3f}  cost={a['cost']:.3f}"
        )
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--cells", type=int, default=60)
    for name in ("pilot", "study"):
        s = sub.add_parser(name)
        s.add_argument("--seeds", type=int, default=2)
        s.add_argument("--shard", type=parse_shard, default=(0, 1))
        s.add_argument("--no-progress", action="store_true")
        s.add_argument("--threads", type=int, default=1)
    sub.choices["pilot"].add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    sub.choices["pilot"].add_argument("--pilot-cells", type=int, default=15)
    sub.choices["study"].add_argument("--recipe", choices=list(RECIPES), required=True)
    s = sub.add_parser("recipe-pilot")
    s.add_argument("--seeds", type=int, default=2)
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--recipes", nargs="+", choices=list(PILOT_RECIPES), default=list(PILOT_RECIPES))
    s.add_argument("--pilot-cells", type=int, default=20)
    s.add_argument("--shard", type=parse_shard, default=(0, 1))
    s.add_argument("--out-dir", default=str(PILOT_DIR))
    s = sub.add_parser("arms-study")
    s.add_argument("--recipe", choices=list(PILOT_RECIPES), required=True)
    s.add_argument("--seeds", type=int, default=2)
    s.add_argument("--shard", type=parse_shard, default=(0, 1))
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--methods", nargs="+", default=[*METHODS, *LATER_METHODS])
    s.add_argument(
        "--out", default=None, help="study file (default benchmarks/results/ranking_<recipe>.jsonl)"
    )
    s.add_argument("--selections-only", action="store_true")
    s.add_argument("--reference-only", action="store_true", help="full data's runs only")
    s.add_argument("--moser-first", action="store_true", help="full data and the Moser proxies made so far")
    s = sub.add_parser("pilot-summary")
    s.add_argument("--source", default=None, help="folder of the running pilot's files to copy in first")
    s = sub.add_parser("report")
    s.add_argument("file", nargs="?", default=str(STUDY_FILE))
    s.add_argument("--bootstrap", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(getattr(args, "threads", 1))
    steps = {
        "sample": cmd_sample,
        "pilot": cmd_pilot,
        "recipe-pilot": cmd_recipe_pilot,
        "arms-study": cmd_arms_study,
        "pilot-summary": cmd_pilot_summary,
        "study": cmd_study,
        "report": cmd_report,
    }
    return steps[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
