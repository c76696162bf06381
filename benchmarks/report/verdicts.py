"""A claim's verdict: its rule's outcome, the seeds behind it, its raw and Holm-corrected p-value.

The claims' modules build :class:`Verdict` objects in the page's sections; the
page corrects every test of the page at once (:func:`apply_holm`), then renders
the sections (:func:`render`). A verdict on fewer than :data:`MIN_SEEDS` seeds is
shown as ``insufficient seeds: k of 8``, with what its rule gave on the means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .records import Group, Record, seed_cells
from .statistics import ALPHA, MIN_SEEDS, fmt_p, holm

HOLDS = "holds"
FAILS = "does not hold"
NOT_TESTED = "not tested"


@dataclass
class Verdict:
    """One verdict line of the page.

    Attributes
    ----------
    claim : str
        Which claim (``"1"``..``"6"``, ``"T3"``, ``"3c epochs"``, ``"3c steps"``).
    subject : str
        What is judged (a setting, with the settings merged into it).
    outcome : str
        The rule's outcome on the means: :data:`HOLDS`, :data:`FAILS` (optionally
        followed by a reason in parentheses), ``holds partly`` or :data:`NOT_TESTED`.
    seeds : int
        Seeds the verdict rests on (paired seeds; the fewest of its groups).
    detail : str
        The numbers the rule was applied to.
    p : float or None
        Raw one-sided p-value of the claim's test; None when there is no test.
    test : str
        The test (shown in the rules; kept for the reader of the object).
    no_test : str
        Why there is no test, when ``p`` is None.
    p_holm : float or None
        Holm-corrected p-value over every test of the page (set by :func:`apply_holm`).
    note : str
        Text after the verdict (e.g. where full data collapsed).
    members : list of str
        The settings judged as one outcome (they found the same cells).
    values : dict
        Numbers the page's summary quotes (e.g. the two means of claim 5).
    """

    claim: str
    subject: str
    outcome: str
    seeds: int
    detail: str
    p: float | None = None
    test: str = ""
    no_test: str = ""
    p_holm: float | None = None
    note: str = ""
    members: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        """Did the rule hold on the means?"""
        return self.outcome == HOLDS

    @property
    def enough_seeds(self) -> bool:
        """Does the verdict rest on at least :data:`MIN_SEEDS` seeds?"""
        return self.seeds >= MIN_SEEDS

    @property
    def survives(self) -> bool:
        """Is its test significant at :data:`ALPHA` after Holm's correction?"""
        return self.p_holm is not None and self.p_holm < ALPHA

    @property
    def status(self) -> str:
        """The verdict as the page states it."""
        if self.outcome == NOT_TESTED or self.enough_seeds:
            return self.outcome
        return f"insufficient seeds: {self.seeds} of {MIN_SEEDS}"


def apply_holm(verdicts: Iterable[Verdict]) -> int:
    """Set ``p_holm`` of every verdict with a test, Holm over all of them; return their number.

    A verdict shown twice on the page (e.g. in "In short" and in its section) is one test.
    """
    unique = {id(v): v for v in verdicts}
    tested = [v for v in unique.values() if v.p is not None]
    if tested:
        for v, adjusted in zip(tested, holm([v.p for v in tested])):
            v.p_holm = adjusted
    return len(tested)


def p_text(v: Verdict) -> str:
    """``raw p = …, Holm p = … (survives|does not survive)`` or why there is no test."""
    if v.p is None:
        return f"no test: {v.no_test}" if v.no_test else "no test"
    if v.p_holm is None:
        return f"raw p = {fmt_p(v.p)} (Holm not applied)"
    word = "survives" if v.survives else "does not survive"
    return f"raw p = {fmt_p(v.p)}, Holm p = {fmt_p(v.p_holm)}: {word} at 5 %"


def render(v: Verdict) -> str:
    """The verdict's line: subject, numbers, ``→ **status**``, the rule's outcome when undecided, p."""
    undecided = v.status != v.outcome
    return (
        f"- {v.subject}: {v.detail} → **{v.status}**"
        + (f" — on the means: {v.outcome}" if undecided else "")
        + ("" if v.outcome == NOT_TESTED and v.p is None else f"; {p_text(v)}")
        + (f"; {v.note}" if v.note else "")
        + "."
    )


def tally(verdicts: Sequence[Verdict]) -> str:
    """Decided verdicts (≥ 8 seeds) that hold and fail, undecided ones, and how many survive Holm."""
    judged = [v for v in verdicts if v.outcome != NOT_TESTED]
    if not judged:
        return "nothing judged"
    decided = [v for v in judged if v.enough_seeds]
    few = [v for v in judged if not v.enough_seeds]
    parts = []
    if decided:
        holds = sum(v.holds for v in decided)
        parts.append(
            f"on ≥ {MIN_SEEDS} seeds {holds} hold{'s' if holds == 1 else ''}, {len(decided) - holds} not"
        )
    if few:
        few_holds = sum(v.holds for v in few)
        parts.append(
            f"{len(few)} undecided on fewer than {MIN_SEEDS} seeds ({few_holds} holding on the means)"
        )
    tested = [v for v in judged if v.p is not None]
    if not tested:
        parts.append("no test")
    elif len(tested) == 1:
        parts.append(f"its test {'survives' if tested[0].survives else 'does not survive'} Holm")
    else:
        parts.append(f"{sum(v.survives for v in tested)} of {len(tested)} tests survive Holm")
    return "; ".join(parts)


def distinct_outcomes(named: Sequence[tuple[Group, list[Record]]]) -> list[list[tuple[Group, list[Record]]]]:
    """Groups whose runs found the same cell in every seed, together: one outcome, counted once.

    Two groups are the same outcome when they ran the same seeds and found the
    same genotype for each; the order of first appearance is kept.
    """
    outcomes: list[list[tuple[Group, list[Record]]]] = []
    for key, recs in named:
        cells = seed_cells(recs)
        for outcome in outcomes:
            if seed_cells(outcome[0][1]) == cells:
                outcome.append((key, recs))
                break
        else:
            outcomes.append([(key, recs)])
    return outcomes


def merged_note(outcome: Sequence[tuple[Group, list[Record]]]) -> str:
    """Names the other settings of an outcome (they found the same cells in every seed), or ``""``."""
    if len(outcome) == 1:
        return ""
    others = ", ".join(f"[{key[3]}]" for key, _ in outcome[1:])
    return f"one outcome with {others} (the same cell in every seed)"
