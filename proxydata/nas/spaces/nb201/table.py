"""Look up a cell's accuracies in a NAS-Bench-201 table (a CSV the user provides).

The library ships no table. The expected format is a CSV (optionally gzip
compressed) with a column ``arch_str`` holding NAS-Bench-201 genotype strings
and any number of numeric columns (accuracies in percent), e.g.::

    index,arch_str,cifar10_test_200ep,cifar100_test_200ep,...
    0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|...|,85.86,52.91,...

A column named ``index`` is taken as the NAS-Bench-201 topology index
(:meth:`NB201Table.index_of`), not as an accuracy. An empty cell reads as NaN; a
column without any number (text) is ignored, and a column of numbers with a
cell that is not a number is an error naming the row, the column and the value.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from typing import Any

from ....exceptions import ProxydataTypeError, ProxydataValueError
from .genotype import Genotype, as_genotype

__all__ = ["TABLE_ENV", "NB201Table"]

#: Environment variable read when no path is given.
TABLE_ENV = "PROXYDATA_NB201_TABLE"


def _to_float(text: str) -> float | None:
    """``float(text)``; NaN for an empty cell; None when not a number."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


class NB201Table:
    """Accuracies of NAS-Bench-201 cells, read from a CSV / CSV.gz file.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The table file; None reads the environment variable
        ``PROXYDATA_NB201_TABLE``. A missing path, a missing file, a file that is
        not a CSV with an ``arch_str`` column, or a malformed genotype raise
        :class:`~proxydata.exceptions.ProxydataValueError` (a ``ValueError``)
        naming the path.

    Attributes
    ----------
    path : str
    columns : tuple of str
        The numeric (accuracy) columns, in file order (``index`` excluded).

    Examples
    --------
    >>> table = NB201Table("nb201_accuracies.csv.gz")          # doctest: +SKIP
    >>> table.lookup("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
    ...              "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")["cifar10_test_200ep"]  # doctest: +SKIP
    94.373333
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            path = os.environ.get(TABLE_ENV)
            if not path:
                raise ProxydataValueError(
                    f"path is None and the environment variable {TABLE_ENV} is not set: "
                    "give the path of a NAS-Bench-201 accuracy table (CSV with an 'arch_str' column)"
                )
        if not isinstance(path, (str, os.PathLike)):
            raise ProxydataTypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise ProxydataValueError(f"path does not name a file: {self.path!r}")
        header, rows = self._read(self.path)
        if "arch_str" not in header:
            raise ProxydataValueError(
                f"table {self.path!r} has no 'arch_str' column; its columns are {header}"
            )
        others = [c for c in header if c != "arch_str"]
        values: dict[str, list[float | None]] = {c: [_to_float(r.get(c) or "") for r in rows] for c in others}
        numeric = [c for c in others if self._is_numeric(c, values[c], rows)]
        self.columns: tuple[str, ...] = tuple(c for c in numeric if c != "index")
        self._has_index = "index" in numeric
        self._rows: dict[str, dict[str, float]] = {}
        self._index: dict[str, int] = {}
        for k, row in enumerate(rows):
            self._add_row(k + 2, row["arch_str"], {c: values[c][k] for c in numeric})

    def _is_numeric(self, column: str, parsed: list[float | None], rows: list[dict[str, str]]) -> bool:
        """Whether ``column`` holds numbers; a column of numbers with a non-number in it raises.

        A column with no number at all (a text column) is not an accuracy and is
        left out; one whose cells are numbers except some is a damaged table:
        dropping the column would make :meth:`lookup` silently lose it.
        """
        bad = [k for k, v in enumerate(parsed) if v is None]
        if not bad:
            return True
        if all(v is None or math.isnan(v) for v in parsed):  # text (and empty cells) only
            return False
        k = bad[0]
        raise ProxydataValueError(
            f"row {k + 2} of table {self.path!r}: column {column!r} holds numbers, but this row's "
            f"value {rows[k][column]!r} is not one (an empty cell is read as NaN)"
        )

    def _add_row(self, line: int, arch: Any, numbers: dict[str, Any]) -> None:
        """Store one row (``line``: its line in the file, for messages)."""
        try:
            key = str(Genotype.parse(arch))
        except (TypeError, ValueError) as exc:
            raise ProxydataValueError(f"row {line} of table {self.path!r}: {exc}") from None
        if key in self._rows:  # a later row would silently replace the earlier one
            raise ProxydataValueError(f"row {line} of table {self.path!r} repeats the cell {key!r}")
        self._rows[key] = {c: float(numbers[c]) for c in self.columns}
        if self._has_index:
            index = numbers["index"]
            if not float(index).is_integer():
                raise ProxydataValueError(
                    f"row {line} of table {self.path!r}: index must be an integer, got {index!r}"
                )
            self._index[key] = int(index)

    @staticmethod
    def _read(path: str) -> tuple[list[str], list[dict[str, str]]]:
        try:
            with open(path, "rb") as fh:
                gzipped = fh.read(2) == b"\x1f\x8b"
            opener: Any = gzip.open if gzipped else open
            with opener(path, "rt", newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ProxydataValueError(f"cannot read table {path!r} as CSV: {exc}") from None
        return header, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, genotype: object) -> bool:
        try:
            return str(as_genotype(genotype)) in self._rows
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return f"NB201Table(path={self.path!r}, rows={len(self)}, columns={list(self.columns)})"

    def _key(self, genotype: Genotype | str) -> str:
        key = str(as_genotype(genotype))
        if key not in self._rows:
            raise ProxydataValueError(f"genotype {key!r} is not in table {self.path!r} ({len(self)} cells)")
        return key

    def genotypes(self) -> list[str]:
        """Every cell of the table as a canonical genotype string, in file order."""
        return list(self._rows)

    def lookup(self, genotype: Genotype | str) -> dict[str, float]:
        """Every numeric column of ``genotype``'s row (``{column: value}``; NaN for empty cells)."""
        return dict(self._rows[self._key(genotype)])

    def index_of(self, genotype: Genotype | str) -> int:
        """The NAS-Bench-201 topology index of ``genotype`` (needs an ``index`` column)."""
        key = self._key(genotype)
        if not self._has_index:
            raise ProxydataValueError(f"table {self.path!r} has no numeric 'index' column")
        return self._index[key]

    def best(self, column: str) -> tuple[str, float]:
        """``(arch_str, value)`` of the row with the highest ``column`` (NaN ignored, first on ties)."""
        if column not in self.columns:
            raise ProxydataValueError(f"column must be one of {list(self.columns)}, got {column!r}")
        best_key, best_value = "", -math.inf
        for key, row in self._rows.items():
            value = row[column]
            if value > best_value:  # NaN compares False
                best_key, best_value = key, value
        if not best_key:
            raise ProxydataValueError(f"column {column!r} has no numeric values")
        return best_key, best_value
