"""DARTS-space genotypes: the cell description, its text form, and the published cells.

A DARTS cell (Liu et al., ICLR 2019, Sec. 2.1) has two input nodes — the outputs of the two
previous cells, states 0 and 1 — and ``steps`` intermediate nodes (4 in the DARTS space), states
``2 .. steps + 1``. A *derived* cell keeps two incoming edges per intermediate node: node ``k``
(state ``k + 2``) is ``op_a(states[i_a]) + op_b(states[i_b])`` with ``i_a, i_b < k + 2``. The
cell's output concatenates the states listed in ``concat`` (``range(2, 6)`` in DARTS).

The DARTS repository writes a genotype as the repr of a named tuple::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6),
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))

:meth:`DartsGenotype.parse` reads that form (lists or tuples, ``range(a, b)`` or a list of
integers for the concatenations, any quotes and white space) with a small tokenizer — never
``eval`` — and ``str()`` writes it back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...._validation import show
from ....exceptions import ProxydataTypeError, ProxydataValueError
from .ops import DARTS_OPS

__all__ = ["GENOTYPES", "DartsGenotype", "as_darts_genotype"]

_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _check_cell(value: Any, name: str) -> tuple[tuple[str, int], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ProxydataTypeError(f"{name} must be a sequence of (operation, input) pairs, got {show(value)}")
    pairs = tuple(value)
    if len(pairs) == 0 or len(pairs) % 2:
        raise ProxydataValueError(
            f"{name} must hold two (operation, input) pairs per intermediate node (an even, "
            f"non-zero number), got {len(pairs)} pairs"
        )
    out: list[tuple[str, int]] = []
    for position, pair in enumerate(pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ProxydataTypeError(
                f"{name}[{position}] must be an (operation, input) pair, got {show(pair)}"
            )
        op, index = pair
        if not isinstance(op, str):
            raise ProxydataTypeError(f"{name}[{position}] operation must be a str, got {show(op)}")
        if op not in DARTS_OPS:
            raise ProxydataValueError(f"{name}[{position}] operation must be one of {DARTS_OPS}, got {op!r}")
        if isinstance(index, bool) or not isinstance(index, int):
            raise ProxydataTypeError(f"{name}[{position}] input must be an int, got {show(index)}")
        node = position // 2
        if not 0 <= index < node + 2:
            raise ProxydataValueError(
                f"{name}[{position}] input must be a state in [0, {node + 1}] for intermediate node "
                f"{node} (state {node + 2}), got {index}"
            )
        out.append((op, int(index)))
    return tuple(out)


def _check_concat(value: Any, name: str, steps: int) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | range):
        raise ProxydataTypeError(f"{name} must be a sequence of state indices, got {show(value)}")
    states = tuple(value)
    if not states:
        raise ProxydataValueError(f"{name} must name at least one state, got {show(value)}")
    for state in states:
        if isinstance(state, bool) or not isinstance(state, int):
            raise ProxydataTypeError(f"{name} must hold ints, got {show(state)} in {show(value)}")
        if not 0 <= state < steps + 2:
            raise ProxydataValueError(f"{name} states must lie in [0, {steps + 1}], got {state}")
    if len(set(states)) != len(states):
        raise ProxydataValueError(f"{name} must not repeat a state, got {show(value)}")
    return tuple(int(s) for s in states)


@dataclass(frozen=True)
class DartsGenotype:
    """A derived DARTS-space architecture: a normal and a reduction cell.

    Frozen and hashable; equal genotypes compare equal whatever form they were built from
    (lists, tuples or ``range`` for the concatenations).

    Parameters
    ----------
    normal : sequence of (str, int)
        Two ``(operation, input state)`` pairs per intermediate node, node by node; each
        operation one of :data:`~proxydata.nas.spaces.darts.ops.DARTS_OPS`, each input state of
        node ``k`` in ``[0, k + 1]``.
    normal_concat : sequence of int
        The states whose concatenation is the normal cell's output.
    reduce, reduce_concat
        The same for the reduction cell.

    Raises
    ------
    TypeError, ValueError
        Naming the field (and the pair's position) that breaks the rules above.

    Examples
    --------
    >>> g = GENOTYPES["DARTS_V2"]
    >>> g.normal[:2]
    (('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
    >>> DartsGenotype.parse(str(g)) == g
    True
    >>> g.count("skip_connect")
    2
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        normal = _check_cell(self.normal, "normal")
        reduce = _check_cell(self.reduce, "reduce")
        normal_concat = _check_concat(self.normal_concat, "normal_concat", len(normal) // 2)
        reduce_concat = _check_concat(self.reduce_concat, "reduce_concat", len(reduce) // 2)
        object.__setattr__(self, "normal", normal)
        object.__setattr__(self, "reduce", reduce)
        object.__setattr__(self, "normal_concat", normal_concat)
        object.__setattr__(self, "reduce_concat", reduce_concat)

    # -- views ------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Number of intermediate nodes of the normal cell (4 in the DARTS space)."""
        return len(self.normal) // 2

    def count(self, op: str, cell: str = "normal") -> int:
        """How many of the ``cell``'s (``"normal"`` or ``"reduce"``) kept edges carry ``op``.

        ``count("skip_connect")`` is the number of skip connections in the normal cell, the
        collapse indicator of DARTS (P-DARTS, Sec. 3.3; the BDP paper, Sec. 4.4).
        """
        if op not in DARTS_OPS:
            raise ProxydataValueError(f"op must be one of {DARTS_OPS}, got {show(op)}")
        if cell not in ("normal", "reduce"):
            raise ProxydataValueError(f"cell must be 'normal' or 'reduce', got {show(cell)}")
        return sum(1 for name, _ in getattr(self, cell) if name == op)

    # -- text form ----------------------------------------------------------------
    def __str__(self) -> str:
        def cell(pairs: tuple[tuple[str, int], ...]) -> str:
            return "[" + ", ".join(f"({name!r}, {index})" for name, index in pairs) + "]"

        def concat(states: tuple[int, ...]) -> str:
            if len(states) > 1 and states == tuple(range(states[0], states[-1] + 1)):
                return f"range({states[0]}, {states[-1] + 1})"
            return "[" + ", ".join(str(s) for s in states) + "]"

        return (
            f"Genotype(normal={cell(self.normal)}, normal_concat={concat(self.normal_concat)}, "
            f"reduce={cell(self.reduce)}, reduce_concat={concat(self.reduce_concat)})"
        )

    @classmethod
    def parse(cls, text: str) -> DartsGenotype:
        """Read the DARTS repository's text form ``Genotype(normal=[...], normal_concat=..., ...)``.

        The four fields are keyword arguments in any order; cells are lists or tuples of
        ``('op', index)`` pairs (single or double quotes), concatenations ``range(a, b)``,
        ``range(b)`` or a list/tuple of integers. A leading name other than ``Genotype`` (such
        as ``DARTS_V2 = Genotype(...)``) is not accepted: pass the expression only.

        Raises
        ------
        TypeError
            If ``text`` is not a str.
        ValueError
            If the text is not of that form (the message shows where), or the genotype it
            describes is invalid.
        """
        if not isinstance(text, str):
            raise ProxydataTypeError(f"text must be a str in the DARTS Genotype(...) form, got {show(text)}")
        fields = _Parser(text).genotype()
        return cls(**fields)


def as_darts_genotype(value: Any) -> DartsGenotype:
    """``value`` as a :class:`DartsGenotype`.

    Accepts a :class:`DartsGenotype` (returned as is), a key of :data:`GENOTYPES`
    (``"DARTS_V2"``), the text form (see :meth:`DartsGenotype.parse`), or any object with
    the four attributes ``normal``,
    ``normal_concat``, ``reduce``, ``reduce_concat`` — such as the ``Genotype`` named tuple of
    the DARTS, PC-DARTS and P-DARTS repositories.
    """
    if isinstance(value, DartsGenotype):
        return value
    if isinstance(value, str):
        if value in GENOTYPES:
            return GENOTYPES[value]
        return DartsGenotype.parse(value)
    if all(hasattr(value, f) for f in _FIELDS):
        return DartsGenotype(**{f: getattr(value, f) for f in _FIELDS})
    raise ProxydataTypeError(
        f"genotype must be a DartsGenotype, a key of GENOTYPES, its text form or an object with "
        f"the attributes {_FIELDS}, got {show(value)}"
    )


_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<int>\d+)|(?P<str>'[^'\\]*'|\"[^\"\\]*\")|(?P<punct>[()\[\]=,]))"
)


class _Parser:
    """Recursive descent over the tokens of ``Genotype(field=value, ...)``; no evaluation."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any, int]] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            match = _TOKEN.match(stripped, pos)
            if match is None:
                raise self._error(f"unexpected character {stripped[pos:].lstrip()[:1]!r}", pos)
            kind = match.lastgroup
            raw = match.group(kind)
            value: Any = int(raw) if kind == "int" else raw[1:-1] if kind == "str" else raw
            self.tokens.append((kind, value, match.start(kind)))
            pos = match.end()
        self.i = 0

    def _error(self, what: str, pos: int | None = None) -> ProxydataValueError:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return ProxydataValueError(
            f"text must be a DARTS genotype 'Genotype(normal=[...], normal_concat=..., reduce=[...], "
            f"reduce_concat=...)': {what} at character {pos} of {show(self.text)}"
        )

    def _peek(self) -> tuple[str, Any, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, kind: str, value: Any = None) -> Any:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            expected = repr(value) if value is not None else f"a {kind}"
            got = "the end" if token is None else repr(token[1])
            raise self._error(f"expected {expected}, got {got}")
        self.i += 1
        return token[1]

    def _at(self, value: str) -> bool:
        token = self._peek()
        return token is not None and token[0] == "punct" and token[1] == value

    def _sequence(self, item) -> list[Any]:
        close = "]" if self._at("[") else ")"
        if not (self._at("[") or self._at("(")):
            raise self._error("expected '[' or '('")
        self.i += 1
        items: list[Any] = []
        while not self._at(close):
            items.append(item())
            if self._at(","):
                self.i += 1
            elif not self._at(close):
                raise self._error(f"expected ',' or {close!r}")
        self.i += 1
        return items

    def _pair(self) -> tuple[str, int]:
        self._take("punct", "(")
        op = self._take("str")
        self._take("punct", ",")
        index = self._take("int")
        if self._at(","):
            self.i += 1
        self._take("punct", ")")
        return op, index

    def _concat(self) -> Any:
        token = self._peek()
        if token is not None and token[0] == "name":
            if token[1] != "range":
                raise self._error(f"expected 'range' or a list of ints, got {token[1]!r}")
            self.i += 1
            bounds = self._sequence(lambda: self._take("int"))
            if len(bounds) not in (1, 2):
                raise self._error(f"range takes 1 or 2 integers, got {len(bounds)}")
            return range(*bounds)
        return self._sequence(lambda: self._take("int"))

    def genotype(self) -> dict[str, Any]:
        self._take("name", "Genotype")
        self._take("punct", "(")
        fields: dict[str, Any] = {}
        while not self._at(")"):
            name = self._take("name")
            if name not in _FIELDS:
                raise self._error(f"unknown field {name!r} (expected one of {_FIELDS})")
            if name in fields:
                raise self._error(f"field {name!r} given twice")
            self._take("punct", "=")
            fields[name] = self._concat() if name.endswith("concat") else self._sequence(self._pair)
            if self._at(","):
                self.i += 1
            elif not self._at(")"):
                raise self._error("expected ',' or ')'")
        self.i += 1
        if self._peek() is not None:
            raise self._error("unexpected text after the closing ')'")
        missing = [f for f in _FIELDS if f not in fields]
        if missing:
            raise self._error(f"missing field(s) {missing}")
        return fields


# fmt: off  (two pairs a line: one intermediate node a line)
#: The published cells, as their authors' repositories list them (operation lists and input
#: indices copied as facts):
#:
#: - ``"DARTS_V1"``, ``"DARTS_V2"`` — DARTS first- and second-order, CIFAR-10
#:   (Liu et al., ICLR 2019, Fig. 4–5; quark0/darts ``cnn/genotypes.py``);
#: - ``"PC_DARTS"`` — PC-DARTS searched on CIFAR-10 (Xu et al., ICLR 2020, Fig. 3;
#:   yuhuixu1993/PC-DARTS ``genotypes.py``, ``PC_DARTS_cifar``);
#: - ``"PDARTS"`` — P-DARTS searched on CIFAR-10 (Chen et al., ICCV 2019, Fig. 3;
#:   chenxin061/pdarts ``genotypes.py``).
GENOTYPES: dict[str, DartsGenotype] = {
    "DARTS_V1": DartsGenotype(
        normal=(
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0),
            ("skip_connect", 0),
            ("sep_conv_3x3", 1),
            ("skip_connect", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0),
            ("skip_connect", 2),
        ),
        normal_concat=(2, 3, 4, 5),
        reduce=(
            ("max_pool_3x3", 0),
            ("max_pool_3x3", 1),
            ("skip_connect", 2),
            ("max_pool_3x3", 0),
            ("max_pool_3x3", 0),
            ("skip_connect", 2),
            ("skip_connect", 2),
            ("avg_pool_3x3", 0),
        ),
        reduce_concat=(2, 3, 4, 5),
    ),
    "DARTS_V2": DartsGenotype(
        normal=(
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1),
            ("skip_connect", 0),
            ("skip_connect", 0),
            ("dil_conv_3x3", 2),
        ),
        normal_concat=(2, 3, 4, 5),
        reduce=(
            ("max_pool_3x3", 0),
            ("max_pool_3x3", 1),
            ("skip_connect", 2),
            ("max_pool_3x3", 1),
            ("max_pool_3x3", 0),
            ("skip_connect", 2),
            ("skip_connect", 2),
            ("max_pool_3x3", 1),
        ),
        reduce_concat=(2, 3, 4, 5),
    ),
    "PC_DARTS": DartsGenotype(
        normal=(
            ("sep_conv_3x3", 1),
            ("skip_connect", 0),
            ("sep_conv_3x3", 0),
            ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0),
            ("sep_conv_3x3", 1),
            ("avg_pool_3x3", 0),
            ("dil_conv_3x3", 1),
        ),
        normal_concat=(2, 3, 4, 5),
        reduce=(
            ("sep_conv_5x5", 1),
            ("max_pool_3x3", 0),
            ("sep_conv_5x5", 1),
            ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 2),
        ),
        reduce_concat=(2, 3, 4, 5),
    ),
    "PDARTS": DartsGenotype(
        normal=(
            ("skip_connect", 0),
            ("dil_conv_3x3", 1),
            ("skip_connect", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 0),
            ("dil_conv_5x5", 4),
        ),
        normal_concat=(2, 3, 4, 5),
        reduce=(
            ("avg_pool_3x3", 0),
            ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 0),
            ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0),
            ("dil_conv_3x3", 1),
            ("dil_conv_3x3", 1),
            ("dil_conv_5x5", 3),
        ),
        reduce_concat=(2, 3, 4, 5),
    ),
}
# fmt: on
