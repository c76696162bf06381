"""Feature matrices in ``.npy`` files: extracted across ranks, resumable, tied to a dataset and a model.

:func:`extract_features` runs a model over a dataset and writes its outputs,
one float32 row per sample, into a ``.npy`` file that
:func:`load_features` (and KM-OR / CC-OR through ``features=``) memory-map.
Three files live side by side:

- ``<path>`` — the ``(n, d)`` float32 matrix in NumPy's ``.npy`` format; it
  exists only once every chunk is written (until then the matrix is
  ``<path>.partial``, renamed at the end), so an unfinished matrix is never
  mistaken for a finished one;
- ``<path>.json`` — the sidecar (version 2): shape, chunk size, the dataset's
  fingerprint (:func:`~proxydata.fingerprint.dataset_fingerprint`), the model's
  identity (:func:`model_identity`), once finished the sha256 of every chunk's
  rows (``chunk_digests``), and its own ``digest``
  (:func:`~proxydata._files.record_digest`): any edited field is refused;
- ``<path>.progress-<rank>.json`` — while an extraction is unfinished, the
  chunks each rank has finished with their rows' digests, sealed by a digest
  salted with the sidecar's (rewritten atomically after every chunk).

A file is complete when the sidecar lists a digest for every chunk — the
library's own record, not a flag: :func:`load_features` checks the digests
against the rows (one read of the file; ``verify=False`` skips it), and on a
resume the chunks the progress files claim are checked the same way.

The rows are cut into chunks of ``chunk_size`` consecutive samples. Under an
initialised ``torch.distributed`` group the unfinished chunks are dealt to the
ranks the way ``DistributedSampler`` deals samples — pending chunk ``j`` to
rank ``j mod world_size`` — without padding, since a chunk must be written once.
Every rank writes its rows into the one shared file (rank 0 creates it; the
others open it after a barrier), records its finished chunks, and all ranks meet
at a final barrier. A chunk's batches always start at the chunk's first row, so
the file holds the same values whatever the number of ranks, and a run that was
killed resumes with the chunks nobody recorded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._files import atomic_write, record_digest
from ._threads import warn_if_threads_oversubscribe
from ._validation import check_bool, check_device, check_int, show
from .batches import array_source
from .exceptions import (
    CorruptStateError,
    ProxydataTypeError,
    ProxydataValueError,
    RankFailedError,
    RankMismatchError,
)
from .fingerprint import dataset_fingerprint, fingerprint_differences
from .items import ItemReader, input_tensor, pixels_to_float

__all__ = [
    "FORMAT",
    "InputCollate",
    "check_finished_memmap",
    "extract_features",
    "load_features",
    "model_identity",
    "partial_path",
    "progress_paths",
    "sidecar_path",
]

#: The ``format`` field of a sidecar.
FORMAT = "proxydata-features"
#: The sidecar's layout: 2 adds ``chunk_digests``, ``digest`` and the ``.partial`` matrix.
VERSION = 2
#: Batches per chunk when ``chunk_size`` is not given.
BATCHES_PER_CHUNK = 16


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<path>.json``: the sidecar describing a feature file."""
    return Path(f"{os.fspath(path)}.json")


def partial_path(path: str | os.PathLike[str]) -> Path:
    """``<path>.partial``: the matrix of an unfinished extraction (renamed to ``path`` when finished)."""
    return Path(f"{os.fspath(path)}.partial")


def progress_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The ``<path>.progress-<rank>.json`` files of an unfinished extraction, sorted."""
    return sorted(Path(p) for p in glob.glob(glob.escape(os.fspath(path)) + ".progress-*.json"))


def model_identity(model: nn.Module) -> dict[str, str]:
    """``{"class": module.qualname, "digest": 16 hex}`` of a model's class and state.

    The digest is ``sha256`` over every ``state_dict`` entry in order: its name,
    dtype, shape and raw bytes (parameters and buffers such as BatchNorm's
    running statistics), first 16 hex digits. Two models with the same class and
    the same weights have the same identity, wherever they live (CPU or GPU).
    """
    if not isinstance(model, nn.Module):
        raise ProxydataTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:  # extra state
            digest.update(repr(value).encode())
    cls = type(model)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "digest": digest.hexdigest()[:16]}


def load_features(
    path: str | os.PathLike[str],
    *,
    dataset: Any = None,
    targets: Any = None,
    verify: bool = True,
) -> np.ndarray:
    """Memory-map a feature file read-only: ``np.load(path, mmap_mode="r")``, checked.

    A file written by :func:`extract_features` must be complete — its sealed
    sidecar lists a digest for every chunk, and (``verify=True``) every chunk's
    rows match it — hold float32 of the recorded shape, and, when ``dataset`` is
    given, be made for that dataset (its sidecar's fingerprint, compared in
    full). A plain ``.npy`` without a sidecar (and without the ``.partial`` or
    progress files of an extraction) is taken as it is.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file holding a 2-D numeric array.
    dataset : map-style dataset, optional
        Check the sidecar's dataset fingerprint against it.
    targets : 1-D labels, optional
        The dataset's labels, if they should not be looked up (as ``targets=``
        of the samplers).
    verify : bool
        Check every chunk's rows against the sidecar's digests (one read of
        the file). False skips only this content check.

    Returns
    -------
    np.memmap of shape (n, d), read-only

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (and no extraction of it was started).
    ProxydataValueError
        If the file is unfinished, made for another dataset, or not a 2-D numeric array.
    CorruptStateError
        If the sidecar or the rows were edited or damaged.
    """
    path = _check_path(path)
    verify = check_bool(verify, "verify")
    meta = _read_sidecar(path)
    if meta is None:
        if partial_path(path).exists() or progress_paths(path):
            raise ProxydataValueError(
                f"path {str(path)!r} is an unfinished extraction whose sidecar {sidecar_path(path).name!r} "
                "is missing: delete its .partial and progress files and extract again"
            )
        if not path.is_file():
            raise FileNotFoundError(f"path: no feature file at {str(path)!r}")
        arr = _open_npy(path)
        if arr.ndim != 2 or arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise ProxydataValueError(
                f"path {str(path)!r} must hold a 2-D numeric array, got {arr.dtype} of shape {arr.shape}"
            )
        return arr
    if not _is_finished(meta):
        raise ProxydataValueError(
            f"path {str(path)!r} is an unfinished extraction ({_done_count(path, meta)} of "
            f"{_num_chunks(meta)} chunks): run extract_features again with the same dataset and model "
            "to finish it"
        )
    if not path.is_file():
        if partial_path(path).exists():
            raise ProxydataValueError(
                f"path {str(path)!r} is an extraction stopped while finishing: run extract_features again"
            )
        raise FileNotFoundError(f"path: no feature file at {str(path)!r} (only its sidecar)")
    arr = _open_npy(path)
    _check_matrix(arr, meta, path)
    if verify:
        bad = _bad_chunks(arr, meta, dict(enumerate(meta["chunk_digests"])))
        if bad:
            raise CorruptStateError(
                f"{str(path)!r}: the rows of chunks {bad[:10]} do not match their digests: the file was "
                "changed after it was written (extract it again)"
            )
    if dataset is not None:
        _check_dataset_identity(meta, dataset_fingerprint(dataset, targets=targets), path)
    return arr


def check_finished_memmap(x: Any, name: str = "features") -> None:
    """Refuse a memory map (``np.load(..., mmap_mode="r")``) of a feature file that is not finished.

    An array whose file is an extraction's ``.partial`` matrix, or has a
    sidecar (or progress files) beside it that does not record every chunk,
    holds rows never extracted (zeros): it is refused rather than used.
    Other arrays pass unchecked.
    """
    filename = getattr(x, "filename", None) if isinstance(x, np.memmap) else None
    if not filename:
        return
    file = Path(filename)
    if file.name.endswith(".partial"):
        raise ProxydataValueError(
            f"{name} is a memory map of {str(file)!r}, the matrix of an unfinished extraction: run "
            "extract_features again to finish it, then pass its path"
        )
    if not (sidecar_path(file).exists() or progress_paths(file)):
        return
    meta = _read_sidecar(file)
    if meta is None or not _is_finished(meta):
        raise ProxydataValueError(
            f"{name} is a memory map of {str(file)!r}, whose extraction is unfinished (see its sidecar): "
            "run extract_features again to finish it"
        )


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptStateError(
            f"{str(path)!r} is not a readable .npy array ({type(exc).__name__}: {exc})"
        ) from None


def _check_matrix(arr: np.ndarray, meta: dict[str, Any], path: Path) -> None:
    if arr.shape != (meta["n"], meta["d"]) or arr.dtype != np.float32:
        raise CorruptStateError(
            f"{str(path)!r} holds {arr.dtype} of shape {arr.shape}, its sidecar says float32 "
            f"({meta['n']}, {meta['d']}): the file was replaced or damaged"
        )


def _chunk_digest(rows: np.ndarray) -> str:
    """sha256 (first 32 hex digits) of a chunk's rows as little-endian float32."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype="<f4").tobytes()).hexdigest()[:32]


def _bad_chunks(arr: np.ndarray, meta: dict[str, Any], digests: dict[int, str]) -> list[int]:
    rows = int(meta["chunk_rows"])
    return sorted(c for c, d in digests.items() if _chunk_digest(arr[c * rows : (c + 1) * rows]) != d)


def _is_finished(meta: dict[str, Any]) -> bool:
    """Every chunk has its digest in the (sealed) sidecar: the library's own record of completion."""
    digests = meta.get("chunk_digests")
    return (
        meta["complete"] is True
        and isinstance(digests, list)
        and len(digests) == _num_chunks(meta)
        and all(isinstance(d, str) and len(d) == 32 for d in digests)
    )


def _done_count(path: Path, meta: dict[str, Any]) -> int | str:
    try:
        return len(_finished_chunks(path, meta))
    except CorruptStateError:
        return "?"


def extract_features(
    dataset: Any,
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
    num_workers: int = 0,
    input_key: str | None = None,
    targets: Any = None,
    progress: bool = True,
) -> np.ndarray:
    """Write ``model``'s output for every sample of ``dataset`` into a memory-mappable ``.npy`` file.

    Row ``i`` of the file is ``model(x_i)`` flattened, as float32: the model
    runs in eval mode under ``torch.no_grad()`` (its training flag is restored)
    on batches of the inputs as :func:`~proxydata.features.model_features`
    reads them (uint8 scaled to ``[0, 1]``). The rows are cut into chunks of
    ``chunk_size`` samples; a chunk is recorded as finished only once its rows
    are flushed to the file.

    Without ``torch.distributed`` (or with a group of one) this process writes
    every chunk. Under an initialised group every rank must call this function
    with the same arguments: the unfinished chunks are dealt out
    ``DistributedSampler``-style (pending chunk ``j`` to rank ``j mod world``,
    no padding), each rank writes its own rows into the shared file, and all
    ranks meet at a barrier before returning. The ranks first compare their
    dataset fingerprints, model identities and arguments; a mismatch, or an
    error on any rank, raises on every rank instead of hanging. Coordination
    uses the group itself when its backend is gloo, else a gloo group made for
    it (so an NCCL job needs no extra set-up).

    Resuming: called again after an interruption (a killed process, a lost
    node), it skips the recorded chunks and writes the rest, with any number of
    ranks. A finished file is returned at once. A file whose sidecar names
    another dataset, model, shape or chunk size is refused (``ValueError``):
    delete it, or choose another ``path``.

    Parameters
    ----------
    dataset : map-style dataset of ``(x, y, ...)`` or dict items
    model : torch.nn.Module
        The feature extractor (e.g. a backbone without its classifier), already
        on ``device``; its identity (:func:`model_identity`) is recorded.
    path : str or os.PathLike
        The ``.npy`` file to write (the sidecars go beside it), on a file
        system every rank sees (a shared one when the ranks span nodes).
    batch_size : int
        Samples per forward pass (the ``feature_batch_size`` of the samplers).
    device : str or torch.device, optional
        Where the batches run. None: this rank's current CUDA device under an
        NCCL group, else the CPU.
    chunk_size : int, optional
        Samples per recorded chunk; default ``16 * batch_size``. Fixed when the
        file is created (a resumed run uses the recorded one).
    num_workers : int
        DataLoader workers reading items (datasets whose inputs are not one stored array).
    input_key : str, optional
        Input key of dict items.
    targets : 1-D labels, optional
        The dataset's labels for its fingerprint, if they should not be looked up.
    progress : bool
        Show a progress bar (on rank 0).

    Returns
    -------
    np.memmap of float32, shape (n, d), read-only

    Raises
    ------
    ValueError
        The file was made for another dataset or model, or the ranks disagree.
    RuntimeError
        Another rank failed while extracting (this rank re-raises its own error).
    """
    if not isinstance(model, nn.Module):
        raise ProxydataTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise ProxydataTypeError(f"dataset must be a map-style dataset, got {type(dataset).__name__}")
    n = len(dataset)
    if n == 0:
        raise ProxydataValueError("dataset must not be empty, got 0 samples")
    path = _check_path(path)
    bs = check_int(batch_size, "batch_size", minimum=1)
    workers = check_int(num_workers, "num_workers", minimum=0)
    progress = check_bool(progress, "progress")
    asked_chunk = None if chunk_size is None else check_int(chunk_size, "chunk_size", minimum=1)
    comm = _Comm.current()
    dev = _default_device(comm) if device is None else check_device(device)
    ItemReader(input_key).input(dataset[0], 0)  # input_key= on tuple items, a missing key: refused here
    warn_if_threads_oversubscribe("feature extraction", dev)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            identity = {
                "n": n,
                "dataset": dataset_fingerprint(dataset, targets=targets, input_key=input_key),
                "model": model_identity(model),
                "d": _output_size(dataset, model, dev, input_key),
                "chunk_size": asked_chunk,
                "batch_size": bs,
            }
            comm.check_same(identity)
            plan = comm.from_rank0(lambda: _prepare(path, identity, asked_chunk or BATCHES_PER_CHUNK * bs))
            if not plan["complete"]:
                mine = plan["pending"][comm.rank :: comm.world]
                failure = None
                try:
                    _write_chunks(
                        dataset, model, path, mine, plan, bs, dev, workers, input_key,
                        comm.rank, progress and comm.rank == 0,
                    )  # fmt: skip
                except Exception as exc:  # reported to every rank below, then re-raised here
                    failure = exc
                comm.check_no_failure(failure)
                comm.from_rank0(lambda: _finish(path))
    finally:
        model.train(was_training)
    return np.load(path, mmap_mode="r")


# -- reading a chunk -----------------------------------------------------------------------


class InputCollate:
    """DataLoader ``collate_fn``: the items' inputs as float32 (``pixels_to_float``), stacked.

    A class, so DataLoader workers can pickle it. Raises ``ValueError`` when the
    inputs of one batch differ in shape.
    """

    def __init__(self, reader: ItemReader) -> None:
        self.reader = reader

    def __call__(self, items: list[Any]) -> torch.Tensor:
        tensors = [pixels_to_float(input_tensor(self.reader.input(item))) for item in items]
        shape = tensors[0].shape
        for t in tensors[1:]:
            if t.shape != shape:
                raise ProxydataValueError(
                    f"dataset images must share one shape, got {tuple(shape)} and {tuple(t.shape)}"
                )
        return torch.stack(tensors)


def _input_batches(
    dataset: Any, start: int, stop: int, batch_size: int, workers: int, input_key: str | None
) -> Iterator[torch.Tensor]:
    """Float32 inputs of rows ``start .. stop - 1`` in batches that start at ``start``."""
    source = array_source(dataset, input_key)
    if source is not None:
        for b in range(start, stop, batch_size):
            yield source.floats(slice(b, min(b + batch_size, stop)))
        return
    loader = DataLoader(
        Subset(dataset, range(start, stop)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=InputCollate(ItemReader(input_key)),
    )
    yield from loader


def _output_size(dataset: Any, model: nn.Module, device: torch.device, input_key: str | None) -> int:
    """Features per sample: the size of the model's output on the first item."""
    x = next(_input_batches(dataset, 0, 1, 1, 0, input_key))
    return int(model(x.to(device)).reshape(1, -1).shape[1])


def _write_chunks(
    dataset: Any,
    model: nn.Module,
    path: Path,
    chunks: list[int],
    plan: dict[str, Any],
    batch_size: int,
    device: torch.device,
    workers: int,
    input_key: str | None,
    rank: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    if not chunks:
        return
    n = len(dataset)
    chunk_rows = plan["chunk_rows"]
    out = np.lib.format.open_memmap(partial_path(path), mode="r+")
    record = _progress_file(path, rank)
    finished = _read_progress(record, plan["meta"]) if record.exists() else {}
    with tqdm(total=len(chunks), desc="features", unit="chunk", disable=not progress, leave=False) as bar:
        for c in chunks:
            start, stop = c * chunk_rows, min(n, (c + 1) * chunk_rows)
            pos = start
            for xb in _input_batches(dataset, start, stop, batch_size, workers, input_key):
                raw = model(xb.to(device))
                if not isinstance(raw, torch.Tensor) or raw.shape[:1] != xb.shape[:1]:
                    got = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
                    raise ProxydataValueError(f"model must return one row per input, got {got}")
                raw = raw.reshape(xb.shape[0], -1)
                rows = raw.float().cpu().numpy()
                if rows.shape[1] != out.shape[1]:
                    raise ProxydataValueError(
                        f"model outputs must share one size, got {out.shape[1]} and {rows.shape[1]}"
                    )
                if not np.isfinite(rows).all() and bool(torch.isfinite(raw).all()):
                    raise ProxydataValueError(
                        f"model outputs for rows {pos}..{pos + rows.shape[0] - 1} exceed float32's range "
                        f"(largest magnitude {raw.abs().max().item():.3g}); scale them down"
                    )
                out[pos : pos + rows.shape[0]] = rows
                pos += rows.shape[0]
            if pos != stop:
                raise ProxydataValueError(f"dataset yielded {pos - start} items for rows {start}..{stop - 1}")
            out.flush()  # the rows reach the file before the chunk is recorded as finished
            finished[c] = _chunk_digest(out[start:stop])
            _write_progress(record, finished, plan["meta"])
            bar.update(1)
    del out


# -- files -----------------------------------------------------------------------------------


def _prepare(path: Path, identity: dict[str, Any], chunk_rows: int) -> dict[str, Any]:
    """Rank 0: create or check the file and its sidecar; the plan every rank follows."""
    meta = _read_sidecar(path)
    partial = partial_path(path)
    if meta is None:
        if path.exists():
            raise ProxydataValueError(
                f"path {str(path)!r} exists but was not written by extract_features (no sidecar "
                f"{sidecar_path(path).name!r}): delete it or choose another path"
            )
        if progress_paths(path) or partial.exists():
            raise CorruptStateError(
                f"progress files or the .partial matrix of {str(path)!r} exist without its sidecar: "
                "delete them"
            )
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "n": identity["n"],
            "d": identity["d"],
            "dtype": "float32",
            "chunk_rows": chunk_rows,
            "batch_size": identity["batch_size"],
            "dataset": identity["dataset"],
            "model": identity["model"],
            "complete": False,
        }
        meta["digest"] = record_digest(meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(meta["n"], meta["d"]))
        _write_json(sidecar_path(path), meta)
    else:
        _check_dataset_identity(meta, identity["dataset"], path)
        if meta["model"] != identity["model"]:
            raise ProxydataValueError(
                f"path {str(path)!r} holds features of another model ({meta['model']}, this one is "
                f"{identity['model']}): delete it or choose another path"
            )
        if (meta["n"], meta["d"]) != (identity["n"], identity["d"]):
            raise ProxydataValueError(
                f"path {str(path)!r} holds shape ({meta['n']}, {meta['d']}), this model and dataset "
                f"make ({identity['n']}, {identity['d']})"
            )
        if identity["chunk_size"] is not None and identity["chunk_size"] != meta["chunk_rows"]:
            raise ProxydataValueError(
                f"chunk_size must be the recorded {meta['chunk_rows']} to resume {str(path)!r}, "
                f"got {identity['chunk_size']}"
            )
        if _is_finished(meta) and not path.exists() and partial.exists():
            os.replace(partial, path)  # stopped between sealing the sidecar and the rename: finish it
        if _is_finished(meta):
            if not path.is_file():
                raise CorruptStateError(
                    f"the sidecar of {str(path)!r} records a finished file that is missing: "
                    "delete the sidecar"
                )
            _check_matrix(_open_npy(path), meta, path)
        else:
            if not partial.is_file():
                raise CorruptStateError(
                    f"the unfinished extraction {str(path)!r} has lost its matrix {partial.name!r}: delete "
                    "its sidecar and progress files and extract again"
                )
            arr = _open_npy(partial)
            _check_matrix(arr, meta, partial)
            claimed = _finished_chunks(path, meta)
            bad = _bad_chunks(arr, meta, claimed)
            if bad:
                raise CorruptStateError(
                    f"the rows of chunks {bad[:10]} of {str(path)!r} do not match what the progress files "
                    "recorded: the file was changed; delete it, its sidecar, .partial and progress files"
                )
    total = _num_chunks(meta)
    done = set(range(total)) if _is_finished(meta) else set(_finished_chunks(path, meta))
    return {
        "complete": _is_finished(meta),
        "chunk_rows": int(meta["chunk_rows"]),
        "num_chunks": total,
        "pending": [c for c in range(total) if c not in done],
        "meta": meta,
    }


def _finish(path: Path) -> None:
    """Rank 0, after the final barrier: seal every chunk's digest into the sidecar, then rename the matrix."""
    meta = _read_sidecar(path)
    assert meta is not None
    total = _num_chunks(meta)
    done = _finished_chunks(path, meta)
    missing = sorted(set(range(total)) - set(done))
    if missing:
        raise CorruptStateError(f"chunks {missing[:10]} of {str(path)!r} were not recorded as finished")
    meta["complete"] = True
    meta["chunk_digests"] = [done[c] for c in range(total)]
    meta["digest"] = record_digest(meta)
    _write_json(sidecar_path(path), meta)
    os.replace(partial_path(path), path)
    for p in progress_paths(path):
        p.unlink()


def _num_chunks(meta: dict[str, Any]) -> int:
    return -(-int(meta["n"]) // int(meta["chunk_rows"]))


def _progress_file(path: Path, rank: int) -> Path:
    return Path(f"{os.fspath(path)}.progress-{rank}.json")


def _finished_chunks(path: Path, meta: dict[str, Any]) -> dict[int, str]:
    """``{chunk: digest of its rows}`` from every rank's progress file (each checked)."""
    done: dict[int, str] = {}
    for p in progress_paths(path):
        for c, d in _read_progress(p, meta).items():
            if done.setdefault(c, d) != d:
                raise CorruptStateError(
                    f"progress files of {str(path)!r} record chunk {c} twice, differently"
                )
    return done


def _write_progress(record: Path, finished: dict[int, str], meta: dict[str, Any]) -> None:
    chunks = sorted(finished)
    body: dict[str, Any] = {
        "chunks": chunks,
        "digests": [finished[c] for c in chunks],
        "chunk_rows": int(meta["chunk_rows"]),
    }
    body["digest"] = record_digest(body, salt=meta["digest"])
    _write_json(record, body)


def _read_progress(p: Path, meta: dict[str, Any]) -> dict[int, str]:
    """A progress file's ``{chunk: digest}``, checked against its digest (salted with the sidecar's)."""
    total = _num_chunks(meta)
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptStateError(f"progress file {str(p)!r} is unreadable: {exc}") from None
    if (
        not isinstance(record, dict)
        or set(record) != {"chunks", "digests", "chunk_rows", "digest"}
        or record.get("digest") != record_digest(record, salt=meta["digest"])
    ):
        raise CorruptStateError(
            f"progress file {str(p)!r} does not match its digest (edited, or left by another extraction): "
            "delete it to extract its chunks again"
        )
    chunks, digests = record["chunks"], record["digests"]
    if (
        record["chunk_rows"] != meta["chunk_rows"]
        or not isinstance(chunks, list)
        or not isinstance(digests, list)
        or len(chunks) != len(digests)
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < total for c in chunks)
    ):
        raise CorruptStateError(f"progress file {str(p)!r} names chunks outside [0, {total}) or is malformed")
    return dict(zip(chunks, digests))


_SIDECAR_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "version": (int,),
    "n": (int,),
    "d": (int,),
    "dtype": (str,),
    "chunk_rows": (int,),
    "batch_size": (int,),
    "dataset": (str,),
    "model": (dict,),
    "complete": (bool,),
    "digest": (str,),
}


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar of ``path`` checked (its digest, every field's type and range), or None if absent."""
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptStateError(f"sidecar {str(side)!r} is unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptStateError(f"{str(side)!r} is not a proxydata feature sidecar")
    if meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise CorruptStateError(
            f"{str(side)!r} is a feature sidecar of version {meta.get('version')!r}; this proxydata reads "
            f"version {VERSION} (with digests): delete {str(path)!r}, its sidecar and any progress files and "
            "extract the features again"
        )
    if meta.get("digest") != record_digest(meta):
        raise CorruptStateError(
            f"sidecar {str(side)!r} does not match its digest: it was edited or damaged (delete the feature "
            "file, its sidecar and progress files and extract again)"
        )
    allowed = set(_SIDECAR_TYPES) | {"chunk_digests"}
    for key, kinds in _SIDECAR_TYPES.items():
        value = meta.get(key)
        if not isinstance(value, kinds) or (kinds == (int,) and isinstance(value, bool)):
            raise CorruptStateError(
                f"sidecar {str(side)!r}: {key} must be {kinds[0].__name__}, got {value!r}"
            )
    if set(meta) - allowed or min(meta["n"], meta["d"], meta["chunk_rows"], meta["batch_size"]) < 1:
        raise CorruptStateError(f"sidecar {str(side)!r} has unknown fields or sizes below 1")
    return meta


def _check_dataset_identity(meta: dict[str, Any], fingerprint: str, path: Path) -> None:
    """The recorded fingerprint must equal the dataset's (every part, its content included)."""
    if meta["dataset"] == fingerprint:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fingerprint without content: different, named below
        try:
            differ = fingerprint_differences(meta["dataset"], fingerprint)
        except CorruptStateError:
            differ = []
    if not differ:
        differ = ["content"]
    raise ProxydataValueError(
        f"path {str(path)!r} holds features of another dataset (its {', '.join(differ)} differ: "
        f"{meta['dataset']} vs {fingerprint}): delete it or choose another path"
    )


def _write_json(target: Path, record: dict[str, Any]) -> None:
    """Replace ``target`` atomically: a reader sees the old or the new record, never half of one."""
    atomic_write(target, json.dumps(record, indent=1, sort_keys=True))


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ProxydataTypeError(f"path must be a str or os.PathLike, got {show(path)}")
    p = Path(path)
    if p.suffix != ".npy":
        raise ProxydataValueError(f"path must name a .npy file, got {str(p)!r}")
    return p


# -- ranks -----------------------------------------------------------------------------------


def _default_device(comm: _Comm) -> torch.device:
    if comm.backend == "nccl" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _Comm:
    """This process's rank in the current ``torch.distributed`` group, and the few collectives used."""

    def __init__(self, rank: int, world: int, group: Any, backend: str | None) -> None:
        self.rank, self.world, self.group, self.backend = rank, world, group, backend

    @classmethod
    def current(cls) -> _Comm:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return cls(0, 1, None, None)
        backend = str(dist.get_backend())
        # Objects travel on the CPU: a gloo group beside an NCCL one.
        group = None if backend == "gloo" else dist.new_group(backend="gloo")
        return cls(dist.get_rank(), dist.get_world_size(), group, backend)

    def gather(self, value: Any) -> list[Any]:
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        try:
            dist.all_gather_object(out, value, group=self.group)
        except (RuntimeError, ConnectionError, OSError) as exc:  # gloo's error when a peer dies
            raise RankFailedError(
                f"a rank of the group failed or left during feature extraction ({type(exc).__name__}: "
                f"{str(exc)[:200]}); the chunks recorded so far are kept: run extract_features again"
            ) from exc
        return out

    def check_same(self, identity: dict[str, Any]) -> None:
        """Raise on every rank unless every rank passed the same ``identity``."""
        seen = self.gather(identity)
        differ = sorted({k for other in seen for k in identity if other[k] != identity[k]})
        if differ:
            raise RankMismatchError(
                f"extract_features was called with different {differ} on different ranks: "
                + "; ".join(
                    f"rank {r}: " + ", ".join(f"{k}={s[k]!r}" for k in differ) for r, s in enumerate(seen)
                )
            )

    def check_no_failure(self, failure: BaseException | None) -> None:
        """Raise on every rank if any rank failed (this rank's own error is re-raised as is)."""
        reports = self.gather(None if failure is None else f"{type(failure).__name__}: {failure}")
        if failure is not None:
            raise failure
        failed = [(r, msg) for r, msg in enumerate(reports) if msg is not None]
        if failed:
            raise RankFailedError(
                "feature extraction failed on " + "; ".join(f"rank {r} ({msg})" for r, msg in failed)
            )

    def from_rank0(self, work: Any) -> Any:
        """Run ``work()`` on rank 0 and hand its result (or its error, raised everywhere) to every rank."""
        result: Any = None
        failure: BaseException | None = None
        if self.rank == 0:
            try:
                result = work()
            except Exception as exc:  # re-raised on every rank below
                failure = exc
        seen = self.gather((result, None if failure is None else (type(failure), str(failure))))
        result, error = seen[0]
        if failure is not None:
            raise failure
        if error is not None:
            kind, message = error
            raise (kind if issubclass(kind, ProxydataValueError) else RankFailedError)(message)
        return result
