"""The study file: one JSON line of settings, then one line per finished run, every line sealed.

Every finished (selection, architecture, seed) of :func:`~proxydata.fidelity.ranking_study`
is appended at once, so a study can be stopped and resumed. Format 2 (this
release) makes the file as trustworthy as a format-3 saved proxy:

- the settings line records the recipe, the datasets' fingerprints, the
  ``architectures`` (names, in order), the ``seeds`` and the ``selections``
  (name to :func:`selection_digest` of the indices), and its own ``digest``
  (:func:`~proxydata._files.record_digest` of the line without it);
- every row carries a ``digest`` over the row without it, salted with the
  settings' digest, so an edited value (an accuracy, a seed, a field added or
  removed) or a row copied from another study fails;
- on reading, every row is checked — an object with exactly the known fields,
  each of its type and range (``test_acc`` a finite percentage in ``[0, 100]``,
  ``seed`` an integer among the recorded seeds, the selection and architecture
  among the recorded ones with the selection's digest), and no run twice.

The settings line is written whole (a temporary file linked into place), so a
study never leaves an empty or half-written file. A row is one ``write`` of one
line; a process killed during it leaves a torn last line without its newline,
which :func:`read_study` drops with a warning and :func:`open_study` cuts off
before the run is redone. A damaged line elsewhere is refused.

Format-1 files (no digests) are refused unless read with ``verify=False``
(which warns); :func:`upgrade_study` checks a format-1 file's rows and
rewrites it as format 2 (``benchmarks/upgrade_study.py`` runs it on files).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._files import atomic_create, atomic_write, record_digest
from ..exceptions import CorruptStateError, ProxydataValueError

__all__ = [
    "STUDY_FORMAT",
    "append_row",
    "check_resumed",
    "open_study",
    "read_study",
    "seal_row",
    "selection_digest",
    "upgrade_study",
]

#: Version of the JSON-lines file written by :func:`~proxydata.fidelity.ranking_study`.
STUDY_FORMAT = 2
#: Formats :func:`read_study` reads (1 only with ``verify=False``).
READABLE_STUDY_FORMATS = (1, 2)

# field: (accepted types, required) of a row; numbers are never bools.
_ROW_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "selection": ((str,), True),
    "architecture": ((str,), True),
    "seed": ((int,), True),
    "test_acc": ((int, float), True),
    "test_loss": ((int, float), True),
    "selection_size": ((int,), True),
    "selection_digest": ((str,), True),
    "train_samples": ((int,), True),
    "cpu_seconds": ((int, float), True),
    "wall_seconds": ((int, float), True),
    "arm": ((str,), False),  # rows written before arms existed are of arm "epochs"
    "epochs": ((int,), False),
    "sgd_steps": ((int,), False),
    "finished": ((str,), True),
    "table": ((dict,), False),
    "digest": ((str,), True),
}
_SETTINGS_LISTS = ("architectures", "seeds", "selections")
#: How long a selection trains (see :func:`~proxydata.fidelity.study.arm_epochs`).
_ARMS = ("epochs", "steps")


def selection_digest(indices: np.ndarray) -> str:
    """The first 16 hex digits of the SHA-256 of the indices as little-endian int64."""
    return hashlib.sha256(np.ascontiguousarray(indices, dtype="<i8").tobytes()).hexdigest()[:16]


def seal_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with ``format`` set to :data:`STUDY_FORMAT` and its ``digest``."""
    out = {k: v for k, v in settings.items() if k != "digest"}
    out["format"] = STUDY_FORMAT
    out["digest"] = record_digest(out)
    return out


def seal_row(row: dict[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its ``digest``: of the row without it, salted with the settings' digest."""
    out = {k: v for k, v in row.items() if k != "digest"}
    out["digest"] = record_digest(out, salt=str(settings["digest"]))
    return out


def _is_number(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, kinds) and not isinstance(value, bool)


def _check_settings(item: Any, path: str, verify: bool) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("kind") != "settings":
        raise CorruptStateError(
            f"{path!r} is not a ranking-study file: its first line must be the settings object"
        )
    fmt = item.get("format")
    if isinstance(fmt, bool) or fmt not in READABLE_STUDY_FORMATS:
        raise CorruptStateError(
            f"{path!r} is a ranking-study file of format {fmt!r}; this proxydata reads formats "
            f"{READABLE_STUDY_FORMATS} (a newer proxydata wrote it, or the file was edited)"
        )
    if fmt == 1:
        if any(k in item for k in (*_SETTINGS_LISTS, "digest")):
            raise CorruptStateError(
                f"{path!r} claims study format 1 but carries fields only format 2 writes "
                f"({sorted(k for k in (*_SETTINGS_LISTS, 'digest') if k in item)}): the file was edited"
            )
        if verify:
            raise CorruptStateError(
                f"{path!r} is a ranking-study file of format 1, which carries no digests, so an edit "
                "cannot be detected: check and convert it with "
                f"proxydata.fidelity.upgrade_study({path!r}), or read it with verify=False"
            )
        warnings.warn(
            f"{path!r} is a study file of format 1 (no digests): read with verify=False, unchecked "
            "against edits",
            UserWarning,
            stacklevel=3,
        )
        return item
    if item.get("digest") != record_digest(item):
        raise CorruptStateError(
            f"{path!r}: the settings line does not match its digest: the file was edited or damaged "
            "after it was written"
        )
    archs, seeds, sels = (item.get(k) for k in _SETTINGS_LISTS)
    if (
        not isinstance(archs, list)
        or not all(isinstance(a, str) for a in archs)
        or not isinstance(seeds, list)
        or not all(_is_number(s, (int,)) and s >= 0 for s in seeds)
        or not isinstance(sels, dict)
        or not all(isinstance(v, str) for v in sels.values())
    ):
        raise CorruptStateError(
            f"{path!r}: the settings line's architectures, seeds or selections are malformed"
        )
    return item


def _check_row(item: Any, number: int, path: str, settings: dict[str, Any]) -> dict[str, Any]:
    where = f"line {number} of {path!r}"
    if not isinstance(item, dict):
        raise CorruptStateError(f"{where} must be a JSON object (a run), got {type(item).__name__}")
    v2 = settings["format"] >= 2
    fields = _ROW_FIELDS if v2 else {k: v for k, v in _ROW_FIELDS.items() if k != "digest"}
    missing = [k for k, (_, required) in fields.items() if required and k not in item]
    unknown = sorted(set(item) - set(fields))
    if missing or unknown:
        raise CorruptStateError(f"{where} lacks the fields {missing} / has unknown fields {unknown}")
    for key, (kinds, _) in fields.items():
        if key in item and not (
            _is_number(item[key], kinds) if kinds != (dict,) else isinstance(item[key], dict)
        ):
            if key in ("test_loss", "cpu_seconds", "wall_seconds") and item[key] is None:
                continue  # a NaN written by an older json
            raise CorruptStateError(
                f"{where}: {key} must be of type {'/'.join(k.__name__ for k in kinds)}, got {item[key]!r}"
            )
    acc = float(item["test_acc"])
    if not math.isfinite(acc) or not 0.0 <= acc <= 100.0:
        raise CorruptStateError(
            f"{where}: test_acc must be a finite percentage in [0, 100], got {item['test_acc']!r}"
        )
    if item["seed"] < 0 or item["selection_size"] < 1 or item["train_samples"] < 0:
        raise CorruptStateError(f"{where}: seed, selection_size or train_samples out of range")
    if item.get("arm", "epochs") not in _ARMS or item.get("epochs", 1) < 1 or item.get("sgd_steps", 0) < 0:
        raise CorruptStateError(f"{where}: arm must be one of {list(_ARMS)}, epochs >= 1, sgd_steps >= 0")
    for key in ("cpu_seconds", "wall_seconds"):
        value = item[key]
        if value is not None and math.isfinite(value) and value < 0:
            raise CorruptStateError(f"{where}: {key} must be >= 0, got {value!r}")
    if "table" in item and not all(
        isinstance(k, str) and (v is None or _is_number(v, (int, float))) for k, v in item["table"].items()
    ):
        raise CorruptStateError(f"{where}: table must map column names to numbers")
    if v2:
        if item["digest"] != record_digest(item, salt=settings["digest"]):
            raise CorruptStateError(
                f"{where} does not match its digest: the run was edited, or copied from another study"
            )
        if item["selection"] not in settings["selections"]:
            raise CorruptStateError(
                f"{where}: selection {item['selection']!r} is not one the settings record"
            )
        if item["selection_digest"] != settings["selections"][item["selection"]]:
            raise CorruptStateError(
                f"{where}: selection_digest differs from the settings' for {item['selection']!r}"
            )
        if item["architecture"] not in settings["architectures"]:
            raise CorruptStateError(
                f"{where}: architecture {item['architecture']!r} is not one the settings record"
            )
        if item["seed"] not in settings["seeds"]:
            raise CorruptStateError(f"{where}: seed {item['seed']!r} is not one the settings record")
    return item


def _lines(path: str) -> tuple[list[tuple[int, str]], int | None]:
    """The file's complete lines ``(number, text)`` and, if its last line is torn, where it starts (bytes)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    torn_at = None
    if raw and not raw.endswith(b"\n"):
        torn_at = raw.rfind(b"\n") + 1
        raw = raw[:torn_at]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptStateError(f"{path!r} is not a UTF-8 text file ({exc})") from None
    return list(enumerate(text.splitlines(), 1)), torn_at


def read_study(
    path: str | os.PathLike[str], *, verify: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read and check a study file: its settings line and its rows.

    Every line is checked (see the module's docstring): the settings line's
    format and digest, every row's fields, types, ranges and digest, and no
    (selection, architecture, seed) twice. A torn last line (a write cut by a
    kill: no newline at the end) is dropped with a warning.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        False reads a format-1 file (no digests) with a warning; its rows are
        still checked for fields, types, ranges and duplicates.

    Raises
    ------
    CorruptStateError
        (A :class:`~proxydata.exceptions.ProxydataValueError`.) If the file is
        empty, not a study file of a readable format, a line is not JSON, a row
        is malformed, edited or repeated.
    """
    settings, rows, torn_at = _read(os.fspath(path), verify)
    if torn_at is not None:
        warnings.warn(
            f"{os.fspath(path)!r} ends in a torn line (a write cut short); it was dropped and its run "
            "counts as not done",
            UserWarning,
            stacklevel=2,
        )
    return settings, rows


def _read(path: str, verify: bool) -> tuple[dict[str, Any], list[dict[str, Any]], int | None]:
    lines, torn_at = _lines(path)
    if not lines:
        raise CorruptStateError(f"{path!r} is empty: it holds no settings line (delete it and run again)")
    settings: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int, str]] = set()
    for number, line in lines:
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorruptStateError(f"line {number} of {path!r} is not JSON: {exc}") from None
        if settings is None:
            settings = _check_settings(item, path, verify)
            continue
        row = _check_row(item, number, path, settings)
        key = (row["selection"], row["architecture"], row["seed"], row.get("arm", "epochs"))
        if key in seen:
            raise CorruptStateError(
                f"line {number} of {path!r} repeats the run (selection {key[0]!r}, architecture "
                f"{key[1]!r}, seed {key[2]}): a study holds each run once"
            )
        seen.add(key)
        rows.append(row)
    assert settings is not None
    return settings, rows, torn_at


def open_study(path: str, settings: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create the file with its sealed settings line, or check an existing one's; the settings and rows.

    ``settings`` is serialised before anything touches the disk, and the line is
    written whole. An existing file whose settings differ is refused; a torn
    last line is cut off (with a warning) so that its run is redone.
    """
    sealed = seal_settings(settings)
    line = json.dumps(sealed, sort_keys=True) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if atomic_create(path, line):
        return sealed, []
    saved, rows, torn_at = _read(path, verify=True)
    for name, digest in sealed.get("selections", {}).items():
        if saved["selections"].get(name, digest) != digest:
            raise ProxydataValueError(
                f"{path!r} holds runs of a selection named {name!r} with other indices; "
                "rename the selection or use another file"
            )
    differ = sorted(k for k in set(saved) | set(sealed) if k != "digest" and saved.get(k) != sealed.get(k))
    if differ:
        detail = "; ".join(
            f"{k}: file {_short(saved.get(k))}, now {_short(sealed.get(k))}" for k in differ[:4]
        )
        raise ProxydataValueError(
            f"{path!r} was made with other settings ({detail}); use another file instead of mixing them"
        )
    if torn_at is not None:
        warnings.warn(
            f"{path!r} ended in a torn line (a write cut short): it is cut off and its run is redone",
            UserWarning,
            stacklevel=3,
        )
        with open(path, "r+b") as fh:
            fh.truncate(torn_at)
    return saved, rows


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def check_resumed(path: str, rows: list[dict[str, Any]], selections: Mapping[str, np.ndarray]) -> None:
    """Refuse a file whose runs of a selection name were made with other indices than ``selections``'."""
    digests = {name: selection_digest(idx) for name, idx in selections.items()}
    for row in rows:
        if row["selection"] in digests and row["selection_digest"] != digests[row["selection"]]:
            raise ProxydataValueError(
                f"{path!r} holds runs of a selection named {row['selection']!r} with other indices; "
                "rename the selection or use another file"
            )


def append_row(path: str, row: dict[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Append one finished run, sealed (:func:`seal_row`), as one JSON line in one write; the sealed row."""
    sealed = seal_row(row, settings)
    data = (json.dumps(sealed, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return sealed


def upgrade_study(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> str:
    """Check a format-1 study file's rows and rewrite it (or write ``out``) as a sealed format-2 file.

    The settings line gains ``architectures`` and ``seeds`` (in the order the
    rows first name them) and ``selections`` (each selection's digest, which
    all its rows must share); every row is checked and sealed. Nothing can
    tell whether a format-1 file was edited before: upgrade only files you trust.
    Returns the path written.
    """
    path = os.fspath(path)
    target = path if out is None else os.fspath(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings, rows, _ = _read(path, verify=False)
    if settings["format"] != 1:
        raise ProxydataValueError(
            f"{path!r} is of study format {settings['format']}, not 1: nothing to upgrade"
        )
    selections: dict[str, str] = {}
    seen: set[tuple[str, str, int, str]] = set()
    for r in rows:
        key = (r["selection"], r["architecture"], r["seed"], r.get("arm", "epochs"))
        if key in seen:  # pragma: no cover - _read refuses repeats already
            raise CorruptStateError(f"{path!r} repeats the run {key}")
        seen.add(key)
    for r in rows:
        if selections.setdefault(r["selection"], r["selection_digest"]) != r["selection_digest"]:
            raise CorruptStateError(f"{path!r} holds runs of selection {r['selection']!r} with other indices")
    new = dict(settings)
    new["architectures"] = list(dict.fromkeys(r["architecture"] for r in rows))
    new["seeds"] = sorted({r["seed"] for r in rows})
    new["selections"] = selections
    sealed = seal_settings(new)
    lines = [json.dumps(sealed, sort_keys=True)]
    lines += [json.dumps(seal_row(r, sealed), sort_keys=True) for r in rows]
    atomic_write(target, "\n".join(lines) + "\n")
    return target
