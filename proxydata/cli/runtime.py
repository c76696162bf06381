"""What every command does around its work: torch's thread count, writing the record."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import torch

from .._validation import check_int

__all__ = ["torch_threads", "write_json"]


@contextlib.contextmanager
def torch_threads(threads: int, flag: str = "--threads") -> Iterator[None]:
    """Run with ``threads`` intra-op threads (0: leave torch's setting), restored afterwards."""
    check_int(threads, flag, minimum=0)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_json(path: str, record: Any) -> None:
    """Write ``record`` as indented JSON.

    The records of :func:`proxydata.experiment.run_search` and
    :func:`proxydata.demo.run_demo` are JSON-able by contract: a value that is
    not is a bug and raises ``TypeError`` here, before the file is opened, so no
    half-written file is left behind.
    """
    text = json.dumps(record, indent=1) + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
