"""The study file: one JSON line of settings, then one line per finished run.

Every finished (selection, architecture, seed) of :func:`~proxydata.fidelity.ranking_study`
is appended at once, so a study can be stopped and resumed; a file made with
other settings is refused rather than mixed, and so is a file holding runs of a
selection of the same name but other indices (compared by
:func:`selection_digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..exceptions import ProxydataValueError

__all__ = ["STUDY_FORMAT", "append_row", "check_resumed", "open_study", "read_study", "selection_digest"]

#: Version of the JSON-lines file written by :func:`~proxydata.fidelity.ranking_study`.
STUDY_FORMAT = 1


def selection_digest(indices: np.ndarray) -> str:
    """The first 16 hex digits of the SHA-256 of the indices as little-endian int64."""
    return hashlib.sha256(np.ascontiguousarray(indices, dtype="<i8").tobytes()).hexdigest()[:16]


def read_study(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a study file: its settings line and its rows (a row repeated by a rerun counts once).

    Raises
    ------
    ProxydataValueError
        If the file is not a study file of this format or a line is not JSON.
    """
    path = os.fspath(path)
    settings: dict[str, Any] | None = None
    rows: dict[tuple[str, str, int, str], dict[str, Any]] = {}
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
            key = (item["selection"], item["architecture"], int(item["seed"]), item.get("arm", "epochs"))
            rows[key] = item
    if settings is None:
        raise ProxydataValueError(f"{path!r} is empty")
    return settings, list(rows.values())


def open_study(path: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
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


def check_resumed(path: str, rows: list[dict[str, Any]], selections: Mapping[str, np.ndarray]) -> None:
    """Refuse a file whose runs of a selection name were made with other indices than ``selections``'."""
    digests = {name: selection_digest(idx) for name, idx in selections.items()}
    for row in rows:
        if row["selection"] in digests and row["selection_digest"] != digests[row["selection"]]:
            raise ProxydataValueError(
                f"{path!r} holds runs of a selection named {row['selection']!r} with other indices; "
                "rename the selection or use another file"
            )


def append_row(path: str, row: dict[str, Any]) -> None:
    """Append one finished run as a JSON line (keys sorted)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
