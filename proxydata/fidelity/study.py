"""The ranking study itself: every architecture trained on every selection with every seed, then compared.

See :mod:`proxydata.fidelity` for what is measured; :func:`ranking_study`
checks its arguments, plans the runs (the reference first, then seed by seed),
skips those a study file already holds, trains the rest
(:func:`~proxydata.fidelity.architectures.train_architecture`), appends each
finished run to the file at once, and ends with
:func:`~proxydata.fidelity.study_agreement`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, SubsetRandomSampler
from tqdm.auto import tqdm

from .._files import jsonable
from .._records import data_frame
from .._validation import as_int_array, check_bool, check_choice, check_device, check_int, check_seed, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..fingerprint import dataset_fingerprint
from ..nas.spaces.nb201.genotype import Genotype
from ..nas.spaces.nb201.table import NB201Table
from .agreement import study_agreement
from .architectures import check_architectures, train_architecture
from .preflight import check_result, preflight
from .study_file import STUDY_FORMAT, append_row, check_resumed, open_study, selection_digest

__all__ = ["RankingStudy", "ranking_study"]


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

    def to_pandas(self, which: str = "agreement") -> Any:
        """``agreement`` (one row per selection) or ``rows`` as a ``pandas.DataFrame``.

        Needs pandas (an optional dependency): ``ImportError`` naming it when absent.

        Parameters
        ----------
        which : {"agreement", "rows"}
            With ``"agreement"`` each interval ``<name>_ci`` becomes two columns,
            ``<name>_ci_lo`` and ``<name>_ci_hi``; with ``"rows"`` (one per
            selection, architecture and seed) a row's NAS-Bench-201 ``table``
            becomes columns ``table_<column>``.

        Returns
        -------
        pandas.DataFrame
        """
        check_choice(which, "which", ("agreement", "rows"))
        if which == "agreement":
            flat = [_split_intervals(entry) for entry in self.agreement]
        else:
            flat = [_flat_table(row) for row in self.rows]
        return data_frame(flat, "RankingStudy")


def _split_intervals(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key.endswith("_ci") and isinstance(value, (list, tuple)) and len(value) == 2:
            out[f"{key}_lo"], out[f"{key}_hi"] = value
        else:
            out[key] = value
    return out


def _flat_table(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "table"}
    out.update({f"table_{k}": v for k, v in (row.get("table") or {}).items()})
    return out


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
    arms: Sequence[str] = ("epochs",),
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
    arms : sequence of {"epochs", "steps"}
        How long each selection trains (``proxydata.fidelity.study.arm_epochs``): ``"epochs"`` for
        ``epochs`` passes over it (what a proxy saves), ``"steps"`` for as many
        SGD steps as the reference's ``epochs`` passes (the same training on less
        data). Every row records its ``arm``, ``epochs`` and ``sgd_steps``; the
        reference is one run for both arms.

    Returns
    -------
    RankingStudy
        The rows (those of ``out`` included) and one agreement row per selection.
    """
    picked, archs, seed_list = _check_plan(dataset, selections, reference, architectures, seeds)
    recipe = _Recipe.checked(epochs, batch_size, device, num_workers, train_fn, network_kwargs, train_kwargs)
    progress = check_bool(progress, "progress")
    _check_truth(table, truth_column)
    _check_shard(shard)
    # checked before any training, not after it (study_agreement checks them again)
    top_k = check_int(top_k, "top_k", minimum=1)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    arm_list = check_arms(arms)
    record_settings = _settings_line(dataset, test_dataset, recipe, reference, settings)
    record_settings.update(
        architectures=list(archs),
        seeds=seed_list,
        selections={name: selection_digest(idx) for name, idx in picked.items()},
    )
    done: list[dict[str, Any]] = []
    if out is not None:
        out = os.fspath(out)
        record_settings, done = open_study(out, record_settings)
        check_resumed(out, done, picked)
    if recipe.train_fn is None and _plan(reference, picked, seed_list, archs, shard, done):
        preflight(dataset, test_dataset, archs, recipe.network_kwargs, recipe.device)
    test_loader = DataLoader(test_dataset, batch_size=max(recipe.batch_size, 256), shuffle=False)
    rows = list(done)
    for name, arch, seed, arm in tqdm(
        _plan(reference, picked, seed_list, archs, shard, done, arm_list),
        desc="ranking study",
        disable=not progress,
    ):
        epochs_here = arm_epochs(
            arm, recipe.epochs, recipe.batch_size, picked[reference].size, picked[name].size
        )
        row = recipe.run(
            dataset,
            picked[name],
            test_loader,
            name=name,
            arch=arch,
            make=archs[arch],
            seed=seed,
            epochs=epochs_here,
            arm=arm,
        )
        if table is not None and isinstance(archs[arch], str) and arch in table:
            row["table"] = table.lookup(arch)
        if out is not None:
            row = append_row(out, row, record_settings)
        rows.append(row)
    agreement = study_agreement(
        rows,
        reference=reference,
        truth_column=truth_column if table is not None else None,
        top_k=top_k,
        n_bootstrap=n_bootstrap,
    )
    return RankingStudy(settings=record_settings, rows=rows, agreement=agreement)


def _check_plan(
    dataset: Any, selections: Any, reference: Any, architectures: Any, seeds: Any
) -> tuple[dict[str, np.ndarray], dict[str, Any], list[int]]:
    """The checked selections (sorted indices), architectures and seeds of :func:`ranking_study`."""
    picked = _check_selections(selections, len(dataset))
    if not isinstance(reference, str) or reference not in picked:
        raise ProxydataValueError(
            f"reference must name one of the selections {list(picked)}, got {show(reference)}"
        )
    archs = check_architectures(architectures)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, range)):
        raise ProxydataTypeError(f"seeds must be a sequence of integers, got {show(seeds)}")
    seed_list = [check_seed(s, "seeds[i]") for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ProxydataValueError(f"seeds must be distinct and not empty, got {list(seeds)}")
    return picked, archs, seed_list


def _settings_line(
    dataset: Any, test_dataset: Any, recipe: _Recipe, reference: str, settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The study file's first line: what the rows are made with (a continued file must match it)."""
    return {
        "kind": "settings",
        "format": STUDY_FORMAT,
        "dataset": dataset_fingerprint(dataset),
        "test_dataset": dataset_fingerprint(test_dataset),
        **recipe.settings(),
        "reference": reference,
        **jsonable(dict(settings or {}), "settings"),
    }


def _check_truth(table: Any, truth_column: str) -> None:
    if table is not None and not isinstance(table, NB201Table):
        raise ProxydataTypeError(f"table must be an NB201Table, got {show(table)}")
    if table is not None and truth_column not in table.columns:
        raise ProxydataValueError(f"truth_column must be one of {list(table.columns)}, got {truth_column!r}")


def _check_shard(shard: Any) -> None:
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(isinstance(v, int) for v in shard)
        or not 0 <= shard[0] < shard[1]
    ):
        raise ProxydataValueError(f"shard must be (i, n) with 0 <= i < n, got {show(shard)}")


def _plan(
    reference: str,
    picked: dict[str, np.ndarray],
    seeds: list[int],
    archs: dict[str, Any],
    shard: tuple[int, int],
    done: list[dict[str, Any]],
    arms: Sequence[str] = ("epochs",),
) -> list[tuple[str, str, int, str]]:
    """The runs ``(selection, architecture, seed, arm)`` this call makes: its shard's, less those done.

    The reference first (it gives the ceiling; one run serves every arm), then
    seed by seed (seed-major), within a seed arm by arm in the order given, so
    that a study cut short holds whole seeds rather than a few selections.
    """
    finished = {(r["selection"], r["architecture"], int(r["seed"]), r.get("arm", "epochs")) for r in done}
    first = arms[0]
    plan = [(reference, arch, seed, first) for seed in seeds for arch in archs]
    plan += [
        (name, arch, seed, arm)
        for seed in seeds
        for arm in arms
        for name in picked
        if name != reference
        for arch in archs
    ]
    return [task for i, task in enumerate(plan) if i % shard[1] == shard[0] and task not in finished]


#: The arms of a study: how long a selection trains (``proxydata.fidelity.study.arm_epochs``).
ARMS = ("epochs", "steps")


def check_arms(arms: Any) -> list[str]:
    """Distinct names of :data:`ARMS`, at least one, as a list."""
    if isinstance(arms, str) or not isinstance(arms, Sequence):
        raise ProxydataTypeError(f"arms must be a sequence of {list(ARMS)}, got {show(arms)}")
    out = list(arms)
    if not out or len(set(out)) != len(out) or any(a not in ARMS for a in out):
        raise ProxydataValueError(f"arms must be distinct names of {list(ARMS)}, got {out}")
    return out


def arm_epochs(arm: str, epochs: int, batch_size: int, n_reference: int, n_selection: int) -> int:
    """Epochs a selection of ``n_selection`` samples trains for under ``arm``.

    ``"epochs"``: ``epochs``. ``"steps"``: as many SGD steps as the reference
    takes in ``epochs`` epochs, ``round(epochs * ceil(n_reference / batch_size)
    / ceil(n_selection / batch_size))`` epochs (at least 1), so a selection at
    r = 0.1 trains about ten times as many epochs as full data.

    Examples
    --------
    >>> arm_epochs("steps", 8, 64, 2000, 200)  # 8 x 32 steps = 64 epochs of 4 steps
    64
    """
    if arm == "epochs":
        return epochs
    if arm != "steps":
        raise ProxydataValueError(f"arm must be one of {list(ARMS)}, got {show(arm)}")
    steps = epochs * math.ceil(n_reference / batch_size)
    return max(1, round(steps / math.ceil(n_selection / batch_size)))


@dataclass(frozen=True)
class _Recipe:
    """The checked training settings every run of a study shares."""

    epochs: int
    batch_size: int
    device: torch.device
    num_workers: int
    train_fn: Callable[..., Any] | None
    network_kwargs: dict[str, Any]
    train_kwargs: dict[str, Any]

    @classmethod
    def checked(
        cls,
        epochs: Any,
        batch_size: Any,
        device: Any,
        num_workers: Any,
        train_fn: Any,
        network_kwargs: Mapping[str, Any] | None,
        train_kwargs: Mapping[str, Any] | None,
    ) -> _Recipe:
        epochs = check_int(epochs, "epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        dev = check_device(device)
        num_workers = check_int(num_workers, "num_workers", minimum=0)
        if train_fn is not None and not callable(train_fn):
            raise ProxydataTypeError(f"train_fn must be callable, got {show(train_fn)}")
        return cls(
            epochs,
            batch_size,
            dev,
            num_workers,
            train_fn,
            _kwargs(network_kwargs, "network_kwargs"),
            _kwargs(train_kwargs, "train_kwargs"),
        )

    def settings(self) -> dict[str, Any]:
        """The recipe's part of the study file's settings line."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "network_kwargs": jsonable(self.network_kwargs, "network_kwargs"),
            "train_kwargs": jsonable(self.train_kwargs, "train_kwargs"),
            "train_fn": None
            if self.train_fn is None
            else getattr(self.train_fn, "__qualname__", type(self.train_fn).__qualname__),
        }

    def run(
        self,
        dataset: Any,
        indices: np.ndarray,
        test_loader: DataLoader,
        *,
        name: str,
        arch: str,
        make: Any,
        seed: int,
        epochs: int | None = None,
        arm: str = "epochs",
    ) -> dict[str, Any]:
        """Train ``make`` (architecture ``arch``) on the selection ``name`` with ``seed``; its row.

        ``epochs`` (default the recipe's) is the arm's (``proxydata.fidelity.study.arm_epochs``).
        """
        epochs = self.epochs if epochs is None else epochs
        generator = torch.Generator().manual_seed(seed)
        loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=SubsetRandomSampler(indices.tolist(), generator=generator),
            num_workers=self.num_workers,
        )
        result = train_architecture(
            make,
            loader,
            test_loader,
            epochs,
            seed,
            self.device,
            self.train_fn,
            self.network_kwargs,
            self.train_kwargs,
        )
        result = check_result(
            result,
            epochs * int(indices.size),
            custom=self.train_fn is not None,
            default_steps=epochs * math.ceil(indices.size / self.batch_size),
        )
        return {
            "selection": name,
            "architecture": arch,
            "seed": seed,
            "test_acc": 100.0 * result["test_acc"],
            "test_loss": result["test_loss"],
            "selection_size": int(indices.size),
            "selection_digest": selection_digest(indices),
            "train_samples": result["train_samples"],
            "arm": arm,
            "epochs": epochs,
            "sgd_steps": result["sgd_steps"],
            "cpu_seconds": result["cpu_seconds"],
            "wall_seconds": result["seconds"],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }


def _kwargs(value: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """A copy of ``network_kwargs`` / ``train_kwargs``, checked recordable before any file is touched."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProxydataTypeError(f"{name} must be a mapping of str to JSON values, got {show(value)}")
    jsonable(value, name)
    return dict(value)


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
