"""Feature matrices in ``.npy`` files: extracted across ranks, resumable, tied to a dataset and a model.

:func:`extract_features` runs a model over a dataset and writes its outputs,
one float32 row per sample, into a ``.npy`` file that
:func:`load_features` (and KM-OR / CC-OR through ``features=``) memory-map.
Three files live side by side:

- ``<path>`` — the ``(n, d)`` float32 matrix in NumPy's ``.npy`` format;
- ``<path>.json`` — the sidecar: shape, chunk size, the dataset's fingerprint
  (:func:`~proxydata.fingerprint.dataset_fingerprint`), the model's identity
  (:func:`model_identity`) and whether every chunk is written;
- ``<path>.progress-<rank>.json`` — while an extraction is unfinished, the
  chunks each rank has finished (rewritten atomically after every chunk).

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._threads import warn_if_threads_oversubscribe
from ._validation import check_bool, check_device, check_int, show
from .batches import array_source
from .exceptions import CorruptStateError, ProxydataTypeError, ProxydataValueError, RankMismatchError
from .fingerprint import dataset_fingerprint, fingerprint_differences
from .items import ItemReader, input_tensor, pixels_to_float

__all__ = [
    "FORMAT",
    "InputCollate",
    "extract_features",
    "load_features",
    "model_identity",
    "progress_paths",
    "sidecar_path",
]

#: The ``format`` field of a sidecar.
FORMAT = "proxydata-features"
VERSION = 1
#: Batches per chunk when ``chunk_size`` is not given.
BATCHES_PER_CHUNK = 16


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<path>.json``: the sidecar describing a feature file."""
    return Path(f"{os.fspath(path)}.json")


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
) -> np.ndarray:
    """Memory-map a feature file read-only: ``np.load(path, mmap_mode="r")``, checked.

    A file written by :func:`extract_features` must be complete, and, when
    ``dataset`` is given, made for that dataset (its sidecar's fingerprint);
    a plain ``.npy`` without a sidecar is taken as it is.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file holding a 2-D numeric array.
    dataset : map-style dataset, optional
        Check the sidecar's dataset fingerprint against it.
    targets : 1-D labels, optional
        The dataset's labels, if they should not be looked up (as ``targets=``
        of the samplers).

    Returns
    -------
    np.memmap of shape (n, d), read-only

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is unfinished, made for another dataset, or not a 2-D numeric array.
    """
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no feature file at {str(path)!r}")
    meta = _read_sidecar(path)
    if meta is not None and not meta["complete"]:
        done = len(_finished_chunks(path, _num_chunks(meta)))
        raise ProxydataValueError(
            f"path {str(path)!r} is an unfinished extraction ({done} of {_num_chunks(meta)} chunks): "
            "run extract_features again with the same dataset and model to finish it"
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ProxydataValueError(f"path {str(path)!r} is not a .npy array: {exc}") from None
    if arr.ndim != 2 or arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ProxydataValueError(
            f"path {str(path)!r} must hold a 2-D numeric array, got {arr.dtype} of shape {arr.shape}"
        )
    if meta is not None:
        if arr.shape != (meta["n"], meta["d"]):
            raise CorruptStateError(
                f"{str(path)!r} holds shape {arr.shape}, its sidecar says ({meta['n']}, {meta['d']})"
            )
        if dataset is not None:
            _check_dataset_identity(meta, dataset_fingerprint(dataset, targets=targets), path)
    return arr


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
                        dataset, model, path, mine, plan["chunk_rows"], bs, dev, workers, input_key,
                        comm.rank, progress and comm.rank == 0,
                    )  # fmt: skip
                except Exception as exc:  # reported to every rank below, then re-raised here
                    failure = exc
                comm.check_no_failure(failure)
                comm.from_rank0(lambda: _finish(path, plan["num_chunks"]))
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
    chunk_rows: int,
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
    out = np.lib.format.open_memmap(path, mode="r+")
    record = _progress_file(path, rank)
    finished = _read_progress(record) if record.exists() else []
    with tqdm(total=len(chunks), desc="features", unit="chunk", disable=not progress, leave=False) as bar:
        for c in chunks:
            start, stop = c * chunk_rows, min(n, (c + 1) * chunk_rows)
            pos = start
            for xb in _input_batches(dataset, start, stop, batch_size, workers, input_key):
                rows = model(xb.to(device)).reshape(xb.shape[0], -1).float().cpu().numpy()
                if rows.shape[1] != out.shape[1]:
                    raise ProxydataValueError(
                        f"model outputs must share one size, got {out.shape[1]} and {rows.shape[1]}"
                    )
                out[pos : pos + rows.shape[0]] = rows
                pos += rows.shape[0]
            if pos != stop:
                raise ProxydataValueError(f"dataset yielded {pos - start} items for rows {start}..{stop - 1}")
            out.flush()  # the rows reach the file before the chunk is recorded as finished
            finished.append(c)
            _write_json(record, {"chunks": sorted(set(finished)), "chunk_rows": chunk_rows})
            bar.update(1)
    del out


# -- files -----------------------------------------------------------------------------------


def _prepare(path: Path, identity: dict[str, Any], chunk_rows: int) -> dict[str, Any]:
    """Rank 0: create or check the file and its sidecar; the plan every rank follows."""
    meta = _read_sidecar(path)
    if meta is None:
        if path.exists():
            raise ProxydataValueError(
                f"path {str(path)!r} exists but was not written by extract_features (no sidecar "
                f"{sidecar_path(path).name!r}): delete it or choose another path"
            )
        if progress_paths(path):
            raise CorruptStateError(f"progress files of {str(path)!r} exist without its sidecar: delete them")
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
        path.parent.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(meta["n"], meta["d"]))
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
        arr = np.load(path, mmap_mode="r")
        if arr.shape != (meta["n"], meta["d"]) or arr.dtype != np.float32:
            raise CorruptStateError(f"{str(path)!r} holds {arr.dtype} {arr.shape}, its sidecar disagrees")
    total = _num_chunks(meta)
    done = set() if meta["complete"] else _finished_chunks(path, total)
    return {
        "complete": bool(meta["complete"]),
        "chunk_rows": int(meta["chunk_rows"]),
        "num_chunks": total,
        "pending": [c for c in range(total) if c not in done],
    }


def _finish(path: Path, total: int) -> None:
    """Rank 0, after the final barrier: mark the file complete once every chunk is recorded."""
    meta = _read_sidecar(path)
    assert meta is not None
    missing = sorted(set(range(total)) - _finished_chunks(path, total))
    if missing:
        raise CorruptStateError(f"chunks {missing[:10]} of {str(path)!r} were not recorded as finished")
    meta["complete"] = True
    _write_json(sidecar_path(path), meta)
    for p in progress_paths(path):
        p.unlink()


def _num_chunks(meta: dict[str, Any]) -> int:
    return -(-int(meta["n"]) // int(meta["chunk_rows"]))


def _progress_file(path: Path, rank: int) -> Path:
    return Path(f"{os.fspath(path)}.progress-{rank}.json")


def _finished_chunks(path: Path, total: int) -> set[int]:
    done: set[int] = set()
    for p in progress_paths(path):
        done.update(_read_progress(p, total))
    return done


def _read_progress(p: Path, total: int | None = None) -> list[int]:
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
        chunks = [int(c) for c in record["chunks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptStateError(f"progress file {str(p)!r} is unreadable: {exc}") from None
    if total is not None and any(c < 0 or c >= total for c in chunks):
        raise CorruptStateError(f"progress file {str(p)!r} names chunks outside [0, {total})")
    return chunks


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptStateError(f"sidecar {str(side)!r} is unreadable: {exc}") from None
    needed = {"format", "n", "d", "chunk_rows", "dataset", "model", "complete"}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not needed <= meta.keys():
        raise CorruptStateError(f"{str(side)!r} is not a proxydata feature sidecar")
    return meta


def _check_dataset_identity(meta: dict[str, Any], fingerprint: str, path: Path) -> None:
    differ = fingerprint_differences(meta["dataset"], fingerprint)
    if differ:
        raise ProxydataValueError(
            f"path {str(path)!r} holds features of another dataset (its {', '.join(differ)} differ: "
            f"{meta['dataset']} vs {fingerprint}): delete it or choose another path"
        )


def _write_json(target: Path, record: dict[str, Any]) -> None:
    """Replace ``target`` atomically: a reader sees the old or the new record, never half of one."""
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


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
        dist.all_gather_object(out, value, group=self.group)
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
            raise RuntimeError(
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
            raise (kind if issubclass(kind, ProxydataValueError) else RuntimeError)(message)
        return result
