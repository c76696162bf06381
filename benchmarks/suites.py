"""The runs of ``reproduce.py``: suites, grids and the identity (key, label) of every run.

A lower layer of ``benchmarks/``: the runner (``reproduce.py``) builds its grid
from here, and the results page (``report/``) reads the planned runs and the
labels from here; this module imports neither.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

METHODS = ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl")

#: Per-step prune ratios of the paper-strength schedules (interval 2, 20 epochs:
#: 9 steps at the ends of epochs 2, 4, ..., 18): 1 - 9 p = 0.04 and 0.14 of each split; 9pct is
#: their midpoint (Table 3's fifth combination).
PAPER_RATIOS = {"4pct": round(0.96 / 9, 4), "14pct": round(0.86 / 9, 4), "9pct": round(0.91 / 9, 4)}
#: The suites; ``build_grid`` runs them seed-major (every suite's seed 0, then seed 1, ...), in
#: this order: the paper's Tables 1-3, ENAS on Moser's Table 3 grid, PC-DARTS, then the rest.
SUITES = (
    "table1", "table2", "table3", "enas", "pcdarts",
    "paper", "paper14", "beta", "criteria", "balance", "aug", "v2proxy", "once",
)  # fmt: skip

#: BDP's Table 1: DARTS-V1 on full data with the search data split train : val in these ratios,
#: the total (pool + val size) fixed. 5:5 is DARTS's own split, the protocol's default.
TABLE1_RATIOS = ((1, 9), (3, 7), (5, 5), (7, 3), (9, 1))
#: BDP's Table 2: EL2N pruning of this share of each split once, the samples with the highest or
#: the lowest EL2N of the training split × of the validation split (the four :data:`CRITERIA`,
#: named by the side pruned, as Table 3, whose best row "Low | High" Sec. 3.2.3 reads as pruning
#: the lowest training and the highest validation scores), against plain DARTS (Table 1's 5:5).
TABLE2_SHARE = 0.5
#: BDP's Table 3: the four criteria at five (train, val) combinations of the schedules of
#: :data:`PAPER_RATIOS` (the paper names five combinations without listing them: ours are the
#: four pairs of its Table 4 end points, 4 % and 14 %, and their midpoint 9 % on both splits).
TABLE3_COMBOS = (("4pct", "4pct"), ("4pct", "14pct"), ("14pct", "4pct"), ("14pct", "14pct"), ("9pct", "9pct"))
#: The one-shot-vs-progressive ablation (suite ``once``; issue 18's former ``table2``): at these.
ONCE_COMBOS = ("4pct", "14pct")
#: The four criteria of Table 3: ``<train>/<val>``, "low" = the lowest VoE pruned first.
CRITERIA = ("low/low", "low/high", "high/low", "high/high")
#: ENAS's controller settings of the ``enas`` suite (``EnasNetwork(reinforce=...)``): four cells
#: scored per validation batch, an update after each, make 64 controller updates an epoch on a
#: 1,000-image split at batch 64 (16 batches; xautodl makes 50 an epoch); one sample per batch
#: and updates of 20 would make 0.8, and the controller would keep its initial policy.
ENAS_REINFORCE = {"samples_per_batch": 4, "aggregate": 1}
#: The search's default settings of a BDP run; a run's options name only those that differ.
BDP_DEFAULTS = {"score": "voe", "pruning": "progressive"}

#: The protocol's settings (``reproduce.py``'s defaults): what a run's key and scale depend on.
GRID_DEFAULTS: dict[str, Any] = {
    "seeds": [0, 1, 2],
    "ratios": [0.25, 0.5, 0.75],
    "methods": list(METHODS),
    "epochs": 20,
    "C": 8,
    "N": 1,
    "resolution": 16,
    "pool_size": 1000,
    "val_size": 1000,
    "bdp_interval": 5,
    "bdp_ratio": 0.2,
    "hessian": 128,
    "beta_lambda": 25.0,
    "lt_factor": 10.0,
    "augment_padding": 2,
}


def default_settings(**overrides: Any) -> argparse.Namespace:
    """:data:`GRID_DEFAULTS` (with ``grid`` = every suite) as the namespace :func:`suite_runs` reads."""
    values = {**GRID_DEFAULTS, "grid": list(SUITES), "algos": ["darts-v1", "gdas"], **overrides}
    return argparse.Namespace(**values)


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


def _bdp(
    ratio: float,
    interval: int = 2,
    limit: str = "ours",
    crit: str = "low/high",
    val_ratio: float | None = None,
    **mode: str,
) -> dict[str, Any]:
    """A BDP run's settings; ``mode`` (``score=``, ``pruning=``) only where it differs from the default."""
    tc, vc = crit.split("/")
    bdp = {
        "interval": interval,
        "train_ratio": ratio,
        "val_ratio": ratio if val_ratio is None else val_ratio,
        "train_criterion": tc,
        "val_criterion": vc,
        "limit": limit,
    }
    bdp.update({k: v for k, v in mode.items() if BDP_DEFAULTS[k] != v})
    return bdp


def table1_sizes(args: argparse.Namespace) -> list[tuple[int, int] | None]:
    """Training and validation sizes of Table 1's ratios (None: the protocol's own split).

    The total ``pool_size + val_size`` is kept; the training share is rounded half up.
    """
    total = args.pool_size + args.val_size
    out: list[tuple[int, int] | None] = []
    for a, b in TABLE1_RATIOS:
        train = int(np.floor(total * a / (a + b) + 0.5))
        out.append(
            None if (train, total - train) == (args.pool_size, args.val_size) else (train, total - train)
        )
    return out


def table2_ratio(epochs: int, interval: int = 2) -> float:
    """The per-step ratio whose one-shot total is :data:`TABLE2_SHARE` of a split.

    Pruning once removes what the progressive schedule of the same ``epochs``
    and ``interval`` would remove over its ``S_p = |{T, 2T, …} ∩ [T, epochs)|``
    steps, ``S_p · round(p · n)`` (``proxydata.pruning.schedule``), so
    ``p = round(0.5 / S_p, 4)``; at 20 epochs and T = 2, ``p = 0.0556`` and a
    2,000-image split loses 9 · 111 = 999 images (49.95 %).
    """
    steps = len(range(interval, epochs, interval))
    if steps < 1:
        raise ValueError(f"epochs={epochs} leaves no pruning step at interval {interval}")
    return round(TABLE2_SHARE / steps, 4)


def reinforce_label(settings: dict[str, int]) -> str:
    """``s<samples per batch>a<aggregate>``: how a run's options name ENAS's controller settings."""
    return f"s{settings['samples_per_batch']}a{settings['aggregate']}"


def parse_reinforce(label: str) -> dict[str, int]:
    """The inverse of :func:`reinforce_label`."""
    head, agg = label[1:].split("a")
    return {"samples_per_batch": int(head), "aggregate": int(agg)}


def suite_runs(suite: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of one suite for one seed, most important first.

    ``table1``-``table3`` are BDP's Tables 1-3 as the paper designed them (issue 27);
    ``enas`` is *Less is More*'s Table 3 (ENAS, full data and the six proxies at
    r = 0.25, 0.5); ``pcdarts`` PC-DARTS on full data against BDP at the paper's
    strength; ``once`` the one-shot-vs-progressive ablation (issue 18's former
    ``table2``, not a paper table); the others are issue 12's. A run two suites
    share (plain DARTS-V1 is Table 1's 5:5 and Table 2's baseline) has the same
    options, hence the same key, in both.
    """
    p4, p14 = PAPER_RATIOS["4pct"], PAPER_RATIOS["14pct"]
    hess = {"hessian": args.hessian} if args.hessian else {}
    runs: list[dict[str, Any]] = []

    def add(algo: str, method: str, ratio: float = 1.0, **opts: Any) -> None:
        runs.append({"algo": algo, "method": method, "ratio": ratio, "seed": seed, "options": opts})

    if suite == "table1":  # BDP's Table 1: full-data DARTS-V1 at each train : val ratio
        for sizes in table1_sizes(args):  # 5:5 is plain DARTS (the protocol's split)
            add("darts-v1", "full", **({} if sizes is None else {"sizes": f"{sizes[0]}+{sizes[1]}"}))
    elif suite == "table2":  # BDP's Table 2: 50 % pruned once by EL2N, high/low x high/low
        p_once = table2_ratio(args.epochs)
        for crit in CRITERIA:
            add("darts-v1", "bdp", bdp=_bdp(p_once, crit=crit, limit="none", score="el2n", pruning="once"))
        add("darts-v1", "full")  # the baseline, Table 1's 5:5 run
    elif suite == "table3":  # BDP's Table 3: 4 criteria x 5 ratio combinations (no class limit)
        for train, val in TABLE3_COMBOS:
            for crit in CRITERIA:
                add("darts-v1", "bdp", bdp=_bdp(PAPER_RATIOS[train], crit=crit, val_ratio=PAPER_RATIOS[val],
                                               limit="none"))  # fmt: skip
    elif suite == "enas":  # Less is More, Table 3: ENAS on full data and on every proxy
        rl = {"reinforce": reinforce_label(ENAS_REINFORCE)}
        add("enas", "full", **rl)
        for ratio in (0.25, 0.5):
            for method in METHODS:
                add("enas", method, ratio, **rl)
    elif suite == "pcdarts":  # PC-DARTS full data vs BDP at the paper's 4 % (low/high, our limit)
        add("pc-darts", "full")
        add("pc-darts", "bdp", bdp=_bdp(p4))
    elif suite == "paper":  # item 2 at 4 % (+ the Hessian trajectories of item 7)
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
    elif suite == "once":  # ablation: one-shot EL2N at epoch T vs progressive VoE, same final size
        for name in ONCE_COMBOS:
            ratio = PAPER_RATIOS[name]
            add("darts-v1", "bdp", bdp=_bdp(ratio))
            add("darts-v1", "bdp", bdp=_bdp(ratio, score="el2n", pruning="once"))
    return runs


def scale_of(args: argparse.Namespace) -> str:
    """The scale part of a run key: resolution, split sizes, supernet and epochs."""
    return f"{args.resolution}px-{args.pool_size}+{args.val_size}-C{args.C}N{args.N}-e{args.epochs}"


def build_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every run of the grid as a small dict (the run's identity), each key once.

    Seed-major: seed 0 of every suite (in :data:`SUITES` order) and of the v1
    grids, then seed 1, …, so that a grid stopped early has every setting at
    nearly the same number of seeds.
    """
    runs: list[dict[str, Any]] = []
    for seed in args.seeds:  # seed-major: every setting grows by one seed before the next seed
        for suite in (s for s in SUITES if s in args.grid):
            runs += suite_runs(suite, seed, args)
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
    scale = scale_of(args)
    unique: dict[str, dict[str, Any]] = {}
    for run in runs:
        run["protocol"] = 2
        run["scale"] = scale
        run["label"] = options_label(run["options"])
        unique.setdefault(run_key(run), run)  # a run two suites share (table3's low/high) once
    return list(unique.values())


def options_label(options: dict[str, Any]) -> str:
    """Every setting of a run beyond (scale, algo, method, ratio, seed), as ``k=v`` pairs.

    BDP settings as ``T<interval>``, ``p<train>/<val>``, ``<train crit>/<val crit>``,
    ``limit=<ours|none|linear>``, then ``score=el2n`` and ``pruning=once`` where they
    differ from BDP's VoE and progressive pruning; then ``split=``, ``sizes=``
    (training + validation images), ``augment=`` (padding), ``beta=`` (β-DARTS
    lambda_max), ``hessian=`` (samples). Empty for a plain run.
    """
    parts = []
    bdp = options.get("bdp")
    if bdp:
        parts.append(
            f"T{bdp['interval']} p{bdp['train_ratio']:g}/{bdp['val_ratio']:g} "
            f"{bdp['train_criterion']}/{bdp['val_criterion']} limit={bdp['limit']}"
            + "".join(f" {k}={bdp[k]}" for k in BDP_DEFAULTS if k in bdp)
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
