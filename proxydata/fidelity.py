"""Ranking fidelity: does a data selection keep the order of architectures?

A proxy dataset is only useful to a search if the architectures that do best on
it are the ones that do best on the full data. :func:`ranking_study` measures
exactly that: it trains every architecture on every data selection (several
seeds), tests each on a held-out set, and reports how well the accuracies reached
with each selection agree with those reached with full data and, optionally, with
a ground truth such as NAS-Bench-201's 200-epoch accuracies.

Agreement (:func:`proxydata.metrics.ranking_agreement`) is Kendall's tau-b,
Spearman's rho and the top-k overlap. It is always read next to its **ceiling**:
full data's own seed-to-seed agreement under the same recipe, since no selection
can be expected to agree with full data better than full data agrees with itself.
To compare like with like, a selection's agreement with full data is measured
across seeds (``tau_cross``: the mean over seed pairs ``i != j`` of
``tau(selection_i, full_j)``), the same estimator as the ceiling
(``mean_{i != j} tau(full_i, full_j)``); the agreement of the seed means
(``tau``) is reported too. Intervals are percentile bootstrap intervals over
architectures.

Every finished (selection, architecture, seed) is appended to a JSON-lines file
at once, so a study can be stopped and resumed; a file made with other settings
is refused rather than mixed (see :func:`read_study`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, SubsetRandomSampler
from tqdm.auto import tqdm

from ._validation import as_int_array, check_bool, check_device, check_fraction, check_int, check_seed, show
from .exceptions import ProxydataTypeError, ProxydataValueError
from .fingerprint import dataset_fingerprint
from .metrics import ranking_agreement
from .nas.genotype import Genotype, as_genotype
from .nas.optim import NB201_SGD, SGDSettings
from .nas.table import NB201Table
from .nas.train import train_genotype, train_network

__all__ = [
    "STUDY_FORMAT",
    "RankingStudy",
    "ranking_study",
    "read_study",
    "sample_nb201_architectures",
    "study_agreement",
]

#: Version of the JSON-lines file written by :func:`ranking_study`.
STUDY_FORMAT = 1


@dataclass
class RankingStudy:
    """The outcome of :func:`ranking_study`.

    Attributes
    ----------
    settings : dict
        What the rows were made with (recipe, datasets' fingerprints, ...).
    rows : list of dict
        One per (selection, architecture, seed): ``selection``, ``architecture``,
        ``seed``, ``test_acc`` (percent), ``test_loss``, ``selection_size``,
        ``selection_digest``, ``train_samples``, ``cpu_seconds``,
        ``wall_seconds`` and, for NAS-Bench-201 cells when a table was given,
        ``table`` (every column of the cell's row).
    agreement : list of dict
        One per selection, see :func:`study_agreement`.
    """

    settings: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy: ``{"settings": ..., "rows": [...], "agreement": [...]}``."""
        return json.loads(
            json.dumps({"settings": self.settings, "rows": self.rows, "agreement": self.agreement})
        )


def sample_nb201_architectures(
    table: NB201Table, k: int, *, column: str = "cifar10_test_200ep", seed: int = 0
) -> list[str]:
    """``k`` NAS-Bench-201 cells stratified over the whole range of ``column``.

    The table's cells with a value in ``column`` are sorted by it (ties by
    genotype string) and cut into ``k`` strata of (almost) equal count, stratum
    ``j`` holding ranks ``[floor(j·n/k), floor((j+1)·n/k))``; one cell is drawn
    uniformly at random from each (``numpy.random.default_rng(seed)``). The
    sample thus spans every percentile, the broken bottom of the space included,
    as the zero-cost-proxy literature samples.

    Parameters
    ----------
    table : NB201Table
    k : int
        ``1 <= k <=`` the number of cells with a value.
    column : str
        A numeric column of the table.
    seed : int

    Returns
    -------
    list of str
        Genotype strings, from the lowest stratum to the highest.
    """
    if not isinstance(table, NB201Table):
        raise ProxydataTypeError(f"table must be an NB201Table, got {show(table)}")
    if column not in table.columns:
        raise ProxydataValueError(f"column must be one of {list(table.columns)}, got {column!r}")
    seed = check_seed(seed)
    cells = sorted(
        ((value, key) for key in table.genotypes() if np.isfinite(value := table.lookup(key)[column])),
    )
    k = check_int(k, "k", minimum=1, maximum=len(cells))
    rng = np.random.default_rng(seed)
    n = len(cells)
    out = []
    for j in range(k):
        lo, hi = (j * n) // k, ((j + 1) * n) // k
        out.append(cells[int(rng.integers(lo, hi))][1])
    return out


def _digest(indices: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(indices, dtype="<i8").tobytes()).hexdigest()[:16]


def _check_selections(selections: Any, n: int) -> dict[str, np.ndarray]:
    if not isinstance(selections, Mapping) or not selections:
        raise ProxydataTypeError(
            f"selections must be a non-empty mapping of name to indices, got {show(selections)}"
        )
    out: dict[str, np.ndarray] = {}
    for name, indices in selections.items():
        if not isinstance(name, str) or not name:
            raise ProxydataTypeError(f"selections' names must be non-empty str, got {show(name)}")
        if indices is None:
            out[name] = np.arange(n, dtype=np.int64)
            continue
        arr = as_int_array(indices, f"selections[{name!r}]")
        if arr.size == 0:
            raise ProxydataValueError(f"selections[{name!r}] is empty")
        if arr.min() < 0 or arr.max() >= n:
            raise ProxydataValueError(f"selections[{name!r}] must lie in [0, {n}), got {int(arr.max())}")
        if np.unique(arr).size != arr.size:
            raise ProxydataValueError(f"selections[{name!r}] must not contain duplicates")
        out[name] = np.sort(arr)
    return out


def _check_architectures(architectures: Any) -> dict[str, Any]:
    """``{name: genotype string or model factory}``."""
    if isinstance(architectures, Mapping):
        out = {}
        for name, make in architectures.items():
            if not isinstance(name, str) or not callable(make):
                raise ProxydataTypeError(
                    f"architectures must map str names to callables returning an nn.Module, got {show(name)}"
                )
            out[name] = make
        if len(out) < 3:
            raise ProxydataValueError(f"architectures must hold at least 3 items to rank, got {len(out)}")
        return out
    if isinstance(architectures, (str, bytes)) or not isinstance(architectures, Sequence):
        raise ProxydataTypeError(
            f"architectures must be a sequence of NAS-Bench-201 genotypes or a mapping of "
            f"name to model factory, got {show(architectures)}"
        )
    names = [str(as_genotype(a, "architectures[i]")) for a in architectures]
    if len(set(names)) != len(names):
        raise ProxydataValueError("architectures must not repeat a genotype")
    if len(names) < 3:
        raise ProxydataValueError(f"architectures must hold at least 3 items to rank, got {len(names)}")
    return {name: name for name in names}


def read_study(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a study file: its settings line and its rows (a row repeated by a rerun counts once).

    Raises
    ------
    ProxydataValueError
        If the file is not a study file of this format or a line is not JSON.
    """
    path = os.fspath(path)
    settings: dict[str, Any] | None = None
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProxydataValueError(f"line {number} of {path!r} is not JSON: {exc}") from None
            if number == 1:
                if item.get("kind") != "settings" or item.get("format") != STUDY_FORMAT:
                    raise ProxydataValueError(
                        f"{path!r} is not a ranking-study file of format {STUDY_FORMAT} "
                        f"(its first line must be the settings)"
                    )
                settings = item
                continue
            rows[(item["selection"], item["architecture"], int(item["seed"]))] = item
    if settings is None:
        raise ProxydataValueError(f"{path!r} is empty")
    return settings, list(rows.values())


def _open_study(path: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Create the file with its settings line, or check an existing one's and return its rows."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as fh:  # "x": two processes never both write a header
            fh.write(json.dumps(settings, sort_keys=True) + "\n")
        return []
    except FileExistsError:
        pass
    saved, rows = read_study(path)
    differ = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if differ:
        detail = "; ".join(f"{k}: file {saved.get(k)!r}, now {settings.get(k)!r}" for k in differ[:4])
        raise ProxydataValueError(
            f"{path!r} was made with other settings ({detail}); use another file instead of mixing them"
        )
    return rows


def _train_one(
    arch: Any,
    train_loader: DataLoader,
    test_loader: DataLoader,
    epochs: int,
    seed: int,
    device: torch.device,
    train_fn: Callable[..., dict[str, Any]] | None,
    network_kwargs: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> dict[str, Any]:
    if train_fn is not None:
        out = train_fn(arch, train_loader, test_loader, epochs=epochs, seed=seed, device=device)
        if not isinstance(out, Mapping) or "test_acc" not in out:
            raise ProxydataTypeError(f"train_fn must return a mapping with 'test_acc', got {show(out)}")
        return dict(out)
    if isinstance(arch, str):
        return train_genotype(
            arch,
            train_loader,
            test_loader,
            epochs,
            device=device,
            seed=seed,
            progress=False,
            **network_kwargs,
            **train_kwargs,
        )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = arch()
    if not isinstance(model, torch.nn.Module):
        raise ProxydataTypeError(f"an architecture factory must return an nn.Module, got {show(model)}")
    unknown = sorted(set(train_kwargs) - set(NB201_SGD))
    if unknown:
        raise ProxydataValueError(
            f"train_kwargs for model factories may set {sorted(NB201_SGD)}, got {unknown}"
        )
    sgd = SGDSettings.checked(**{**NB201_SGD, **train_kwargs})
    return train_network(
        model, train_loader, test_loader, epochs, sgd=sgd, device=device, seed=seed, progress=False
    )


def ranking_study(
    dataset: Any,
    test_dataset: Any,
    selections: Mapping[str, Any],
    architectures: Sequence[Genotype | str] | Mapping[str, Callable[[], torch.nn.Module]],
    *,
    seeds: Sequence[int] = (0, 1),
    epochs: int = 12,
    batch_size: int = 128,
    reference: str = "full",
    table: NB201Table | None = None,
    truth_column: str = "cifar10_test_200ep",
    network_kwargs: Mapping[str, Any] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    train_fn: Callable[..., dict[str, Any]] | None = None,
    out: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    shard: tuple[int, int] = (0, 1),
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    top_k: int = 10,
    n_bootstrap: int = 1000,
    progress: bool = True,
) -> RankingStudy:
    """Train every architecture on every selection and measure how well each keeps the ranking.

    For each seed ``s``, architecture ``a`` and selection ``S`` (the training set
    restricted to ``S``), the architecture is trained from scratch for ``epochs``
    epochs (:func:`proxydata.nas.train_genotype`'s recipe unless ``train_fn``
    is given) and its accuracy on ``test_dataset`` is recorded. Then
    :func:`study_agreement` compares every selection with ``reference`` and
    with the ground truth.

    Parameters
    ----------
    dataset : map-style dataset of ``(x, y)``
        The training data; selections index it.
    test_dataset : map-style dataset of ``(x, y)``
        Held-out data every trained network is tested on.
    selections : mapping of str to 1-D indices or None
        Named data selections: any static proxy's ``indices``, a user's subset,
        :class:`~proxydata.BiLevelPruner`'s final ``kept_train``. None stands for
        the whole of ``dataset``. Must contain ``reference``.
    architectures : sequence of NAS-Bench-201 genotypes, or mapping of name to factory
        Genotypes are trained as :class:`~proxydata.nas.CellNetwork`
        (``network_kwargs``: ``C``, ``N``, ``num_classes``, ``in_channels``); a
        factory is called under ``torch.manual_seed(seed)`` and must return an
        ``nn.Module`` mapping inputs to logits. At least 3.
    seeds : sequence of int
        Training seeds (initialisation and data order). At least 2 to measure
        the ceiling.
    epochs, batch_size : int
        The training recipe.
    reference : str
        The name of the full-data selection.
    table : NB201Table, optional
        Ground truth for genotypes; ``truth_column`` is the column compared.
    network_kwargs, train_kwargs : mapping, optional
        Passed to the training (``lr``, ``weight_decay``, ...).
    train_fn : callable, optional
        ``train_fn(architecture, train_loader, test_loader, *, epochs, seed,
        device) -> {"test_acc": float in [0, 1], ...}``: the user's own recipe.
    out : path, optional
        A JSON-lines file: its first line the settings, then one line per
        finished run, written at once. An existing file with the same settings is
        continued (done runs are skipped); one with other settings is refused.
    settings : mapping, optional
        Extra JSON-able facts to record with the settings (a recipe's name, the
        data's provenance); they must match when a file is continued.
    shard : (int, int)
        ``(i, n)``: run only every ``n``-th of the planned runs starting at ``i``
        (several processes may share one file).
    device : str or torch.device
    num_workers : int
        DataLoader workers of the training loader.
    top_k : int
        For the top-k overlap (capped at the number of architectures).
    n_bootstrap : int
        Bootstrap resamples for the intervals (0: none).
    progress : bool
        A tqdm bar over the runs.

    Returns
    -------
    RankingStudy
        The rows (those of ``out`` included) and one agreement row per selection.
    """
    n = len(dataset)
    picked = _check_selections(selections, n)
    if not isinstance(reference, str) or reference not in picked:
        raise ProxydataValueError(
            f"reference must name one of the selections {list(picked)}, got {show(reference)}"
        )
    archs = _check_architectures(architectures)
    seed_list = [check_seed(s, "seeds[i]") for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ProxydataValueError(f"seeds must be distinct and not empty, got {list(seeds)}")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    dev = check_device(device)
    num_workers = check_int(num_workers, "num_workers", minimum=0)
    progress = check_bool(progress, "progress")
    if table is not None and not isinstance(table, NB201Table):
        raise ProxydataTypeError(f"table must be an NB201Table, got {show(table)}")
    if table is not None and truth_column not in table.columns:
        raise ProxydataValueError(f"truth_column must be one of {list(table.columns)}, got {truth_column!r}")
    if train_fn is not None and not callable(train_fn):
        raise ProxydataTypeError(f"train_fn must be callable, got {show(train_fn)}")
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(isinstance(v, int) for v in shard)
        or not 0 <= shard[0] < shard[1]
    ):
        raise ProxydataValueError(f"shard must be (i, n) with 0 <= i < n, got {show(shard)}")
    net_kw = dict(network_kwargs or {})
    train_kw = dict(train_kwargs or {})
    record_settings = {
        "kind": "settings",
        "format": STUDY_FORMAT,
        "dataset": dataset_fingerprint(dataset),
        "test_dataset": dataset_fingerprint(test_dataset),
        "epochs": epochs,
        "batch_size": batch_size,
        "network_kwargs": net_kw,
        "train_kwargs": train_kw,
        "train_fn": None if train_fn is None else getattr(train_fn, "__qualname__", repr(train_fn)),
        "reference": reference,
        **json.loads(json.dumps(dict(settings or {}))),
    }
    done: list[dict[str, Any]] = []
    if out is not None:
        out = os.fspath(out)
        done = _open_study(out, record_settings)
        digests = {name: _digest(idx) for name, idx in picked.items()}
        for row in done:
            if row["selection"] in digests and row["selection_digest"] != digests[row["selection"]]:
                raise ProxydataValueError(
                    f"{out!r} holds runs of a selection named {row['selection']!r} with other indices; "
                    "rename the selection or use another file"
                )
    finished = {(r["selection"], r["architecture"], int(r["seed"])) for r in done}
    # The reference first (it gives the ceiling), then seed by seed, so that a study
    # cut short holds whole seeds rather than a few selections.
    order = [reference, *(name for name in picked if name != reference)]
    plan = [
        (name, arch, seed)
        for name_first in (True, False)
        for seed in seed_list
        for name in order
        if (name == reference) == name_first
        for arch in archs
    ]
    plan = [task for i, task in enumerate(plan) if i % shard[1] == shard[0] and task not in finished]
    test_loader = DataLoader(test_dataset, batch_size=max(batch_size, 256), shuffle=False)
    rows = list(done)
    for name, arch, seed in tqdm(plan, desc="ranking study", disable=not progress):
        indices = picked[name]
        generator = torch.Generator().manual_seed(seed)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=SubsetRandomSampler(indices.tolist(), generator=generator),
            num_workers=num_workers,
        )
        result = _train_one(archs[arch], loader, test_loader, epochs, seed, dev, train_fn, net_kw, train_kw)
        row: dict[str, Any] = {
            "selection": name,
            "architecture": arch,
            "seed": seed,
            "test_acc": 100.0 * float(result["test_acc"]),
            "test_loss": float(result.get("test_loss", float("nan"))),
            "selection_size": int(indices.size),
            "selection_digest": _digest(indices),
            "train_samples": int(result.get("train_samples", epochs * indices.size)),
            "cpu_seconds": float(result.get("cpu_seconds", float("nan"))),
            "wall_seconds": float(result.get("seconds", float("nan"))),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if table is not None and isinstance(archs[arch], str) and arch in table:
            row["table"] = table.lookup(arch)
        if out is not None:
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
        rows.append(row)
    agreement = study_agreement(
        rows,
        reference=reference,
        truth_column=truth_column if table is not None else None,
        top_k=top_k,
        n_bootstrap=n_bootstrap,
    )
    return RankingStudy(settings=record_settings, rows=rows, agreement=agreement)


def _matrix(rows: list[dict[str, Any]], selection: str, archs: list[str], seeds: list[int]) -> np.ndarray:
    """``(architectures, seeds)`` accuracies of one selection (NaN where missing)."""
    at = {(r["architecture"], int(r["seed"])): r["test_acc"] for r in rows if r["selection"] == selection}
    return np.array([[at.get((a, s), np.nan) for s in seeds] for a in archs], dtype=np.float64)


def _cross_tau(x: np.ndarray, y: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """Mean over the column pairs ``(i, j)`` of ``tau(x[:, i], y[:, j])`` (NaN without pairs)."""
    if not pairs:
        return float("nan")
    return float(np.mean([_tau(x[:, i], y[:, j]) for i, j in pairs]))


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.kendalltau(a, b, variant="b").statistic)


def _interval(values: list[float], confidence: float) -> list[float]:
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if finite.size == 0:
        return [float("nan"), float("nan")]
    tail = 50.0 * (1.0 - confidence)
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100.0 - tail))]


def study_agreement(
    rows: Sequence[Mapping[str, Any]],
    *,
    reference: str = "full",
    truth_column: str | None = "cifar10_test_200ep",
    top_k: int = 10,
    n_bootstrap: int = 1000,
    bootstrap_seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """One agreement row per selection, from the rows of a study alone.

    Only architectures with a result for every seed under both the selection and
    ``reference`` are compared, over the seeds the two share (the ceiling uses
    every seed of the reference). With ``A`` the selection's ``(architecture,
    seed)`` accuracies and ``F`` the reference's:

    - ``tau`` / ``rho`` / ``top_k_overlap``: :func:`~proxydata.metrics.ranking_agreement`
      of ``F``'s seed means against ``A``'s seed means;
    - ``tau_cross``: ``mean_{i != j} tau(A[:, i], F[:, j])`` over every seed
      ``i`` of the selection and every other seed ``j`` of the reference (pairs
      of different seeds, so a shared initialisation cannot inflate it);
    - ``ceiling``: full data's seed-to-seed agreement
      ``mean_{i < j} tau(F[:, i], F[:, j])``, the same estimator on the reference;
    - ``gap``: ``tau_cross - ceiling`` (its interval, from the same resamples,
      says whether the selection falls short of the ceiling);
    - ``tau_truth`` / ``rho_truth`` / ``top_k_overlap_truth``: ``A``'s seed means
      against ``truth_column`` of the rows' ``table`` (when present);
    - each of these also over the **top half** (``*_top``): the architectures
      whose truth (or, without one, whose reference mean) is at least the median;
    - ``*_ci``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
      quantiles over ``n_bootstrap`` resamples of the architectures (with
      replacement; ``numpy.random.default_rng(bootstrap_seed)``, the same
      resamples for every statistic of a selection);
    - ``size``, ``ratio`` (size over the reference's), ``train_samples`` and
      ``cpu_seconds`` summed, and ``cost`` (train samples over the reference's).

    Parameters
    ----------
    rows : sequence of mapping
        Rows of :func:`ranking_study` (or of :func:`read_study`).
    reference : str
    truth_column : str or None
    top_k : int
        Capped at the number of architectures compared.
    n_bootstrap : int
    bootstrap_seed : int
    confidence : float
        In ``(0, 1)``; e.g. ``1 - 0.05 / m`` for Bonferroni over ``m`` selections.

    Returns
    -------
    list of dict
        In the order selections first appear in ``rows``, the reference first.
    """
    rows = [dict(r) for r in rows]
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    confidence = check_fraction(confidence, "confidence", low_open=True, high_open=True)
    top_k = check_int(top_k, "top_k", minimum=1)
    names = list(dict.fromkeys(r["selection"] for r in rows))
    if reference not in names:
        raise ProxydataValueError(f"reference {reference!r} has no rows; selections are {names}")
    names.remove(reference)
    names.insert(0, reference)
    seeds = sorted({int(r["seed"]) for r in rows if r["selection"] == reference})
    all_archs = list(dict.fromkeys(r["architecture"] for r in rows))
    ref_full = _matrix(rows, reference, all_archs, seeds)
    truth_of = {}
    if truth_column is not None:
        for r in rows:
            value = (r.get("table") or {}).get(truth_column)
            if value is not None:
                truth_of[r["architecture"]] = float(value)
    ref_cost = {
        "samples": sum(r["train_samples"] for r in rows if r["selection"] == reference),
        "size": next(r["selection_size"] for r in rows if r["selection"] == reference),
    }
    out = []
    for name in names:
        # the seeds this selection shares with the reference (a reference may have more)
        common = sorted({int(r["seed"]) for r in rows if r["selection"] == name} & set(seeds))
        sel_full = _matrix(rows, name, all_archs, common)
        complete = np.isfinite(sel_full).all(axis=1) & np.isfinite(ref_full).all(axis=1)
        archs = [a for a, ok in zip(all_archs, complete) if ok]
        sel = sel_full[complete]
        ref = _matrix(rows, reference, all_archs, common)[complete]
        ref_all = ref_full[complete]
        pairs = (
            [(i, j) for i, s in enumerate(common) for j, r in enumerate(seeds) if s != r],
            [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))],
        )
        mine = [r for r in rows if r["selection"] == name]
        entry: dict[str, Any] = {
            "selection": name,
            "size": mine[0]["selection_size"],
            "ratio": mine[0]["selection_size"] / ref_cost["size"],
            "architectures": len(archs),
            "seeds": len(common),
            "train_samples": int(sum(r["train_samples"] for r in mine)),
            "cpu_seconds": float(sum(r["cpu_seconds"] for r in mine)),
            "cost": sum(r["train_samples"] for r in mine) / ref_cost["samples"]
            if ref_cost["samples"]
            else None,
        }
        truth = np.array([truth_of.get(a, np.nan) for a in archs])
        has_truth = bool(archs) and np.isfinite(truth).all()
        basis = truth if has_truth else ref.mean(axis=1)
        top = basis >= np.median(basis) if archs else np.zeros(0, dtype=bool)
        for half, mask in (("all", np.ones(len(archs), dtype=bool)), ("top", top)):
            suffix = "" if half == "all" else "_top"

            stats = _stats_with_intervals(
                (sel, ref, ref_all, truth if has_truth else None),
                np.flatnonzero(mask),
                pairs=pairs,
                top_k=top_k,
                is_reference=name == reference,
                n_bootstrap=n_bootstrap,
                seed=bootstrap_seed,
                confidence=confidence,
            )
            entry.update({_suffixed(k, suffix): v for k, v in stats.items()})
        out.append(entry)
    return out


def _suffixed(key: str, suffix: str) -> str:
    """``tau`` -> ``tau_top``; ``tau_ci`` -> ``tau_top_ci``."""
    return f"{key[:-3]}{suffix}_ci" if key.endswith("_ci") else f"{key}{suffix}"


def _stats_with_intervals(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
    idx: np.ndarray,
    *,
    pairs: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    top_k: int,
    is_reference: bool,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """:func:`_half_stats` of the architectures ``idx``; ``<stat>_ci``: intervals over resamples of them."""

    def at(pick: np.ndarray, rank_only: bool = False) -> dict[str, float]:
        sel, ref, ref_all, truth = (None if a is None else a[pick] for a in arrays)
        return _half_stats(sel, ref, ref_all, truth, pairs, top_k, is_reference, rank_only=rank_only)

    out: dict[str, Any] = dict(at(idx))
    if n_bootstrap and idx.size >= 3:
        rng = np.random.default_rng(seed)
        draws: dict[str, list[float]] = {}
        for _ in range(n_bootstrap):
            for k, v in at(rng.choice(idx, size=idx.size, replace=True), rank_only=True).items():
                draws.setdefault(k, []).append(v)
        out.update({f"{k}_ci": _interval(v, confidence) for k, v in draws.items()})
    return out


def _half_stats(
    sel: np.ndarray,
    ref: np.ndarray,
    ref_all: np.ndarray,
    truth: np.ndarray | None,
    pairs: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    top_k: int,
    is_reference: bool,
    *,
    rank_only: bool = False,
) -> dict[str, float]:
    """The agreement statistics of one set of architectures (see :func:`study_agreement`).

    ``pairs``: the (selection seed column, reference seed column) pairs of
    different seeds, and the (reference, reference) pairs of the ceiling.
    """
    nan = float("nan")
    out: dict[str, float] = {}
    n = sel.shape[0]
    if n < 3:
        keys = ["tau", "rho", "tau_cross", "ceiling", "gap"] + (
            ["tau_truth", "rho_truth"] if truth is not None else []
        )
        return {k: nan for k in keys}
    sel_mean, ref_mean = sel.mean(axis=1), ref.mean(axis=1)
    k = min(top_k, n)
    if is_reference:
        out["tau"] = out["rho"] = 1.0
        if not rank_only:
            out["top_k_overlap"] = 1.0
    else:
        agree = ranking_agreement(ref_mean, sel_mean, top_k=k)
        out["tau"], out["rho"] = agree["kendall_tau"], agree["spearman"]
        if not rank_only:
            out["top_k_overlap"] = agree["top_k_overlap"]
    ceiling = _cross_tau(ref_all, ref_all, pairs[1])
    out["tau_cross"] = ceiling if is_reference else _cross_tau(sel, ref_all, pairs[0])
    out["ceiling"] = ceiling
    out["gap"] = out["tau_cross"] - ceiling
    if truth is not None:
        agree = ranking_agreement(truth, sel_mean, top_k=k)
        out["tau_truth"], out["rho_truth"] = agree["kendall_tau"], agree["spearman"]
        if not rank_only:
            out["top_k_overlap_truth"] = agree["top_k_overlap"]
    return out
