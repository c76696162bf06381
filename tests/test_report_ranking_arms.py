"""benchmarks/report/ranking_arms.py: the pilot's rule, the study's status and its partial seeds."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _mod() -> Any:
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module("report.ranking_arms")


def _pilot(recipe: str, tau: float, cpu: float, seeds: int = 2, cells: int = 20) -> dict:
    return {"recipe": recipe, "tau_truth": tau, "cpu_per_run": cpu, "seeds": seeds, "cells": cells,
            "tau_truth_per_seed": [tau] * seeds, "seed0_cells": cells, "planned_cells": 20,
            "rows": seeds * 20}  # fmt: skip


def test_choose_recipe_cheapest_above_target():
    m = _mod()
    chosen, reason = m.choose_recipe([_pilot("a", 0.55, 9.0), _pilot("b", 0.62, 12.0), _pilot("c", 0.3, 2.0)])
    assert chosen == "a" and "cheapest" in reason


def test_choose_recipe_best_with_ties_when_none_reaches_target():
    m = _mod()
    # b is best (0.45); a is within 0.05 and cheaper -> a; c is cheapest but not tied
    chosen, reason = m.choose_recipe([_pilot("a", 0.41, 7.0), _pilot("b", 0.45, 9.0), _pilot("c", 0.2, 1.0)])
    assert chosen == "a" and "no recipe reaches" in reason


def test_choose_recipe_waits_for_every_recipe_to_have_both_seeds():
    m = _mod()
    chosen, reason = m.choose_recipe([_pilot("a", 0.9, 1.0, seeds=1), _pilot("b", 0.3, 5.0)])
    assert chosen is None and "1 of 2 recipes" in reason


def _rows(selection: str, arm: str, seed: int, cells: int) -> list[dict]:
    return [{"selection": selection, "arm": arm, "seed": seed, "architecture": f"c{i}"} for i in range(cells)]


def test_complete_seeds_drops_a_seed_still_running_but_never_the_reference():
    m = _mod()
    rows = [
        *_rows("full", "epochs", 0, 4),
        *_rows("full", "epochs", 1, 2),
        *_rows("a", "epochs", 0, 4),
        *_rows("a", "epochs", 1, 3),  # running: left out
        *_rows("b", "steps", 0, 2),  # no whole seed yet: kept as it is
    ]
    kept = m.complete_seeds(rows, cells=4)
    assert sum(r["selection"] == "full" for r in kept) == 6
    assert {r["seed"] for r in kept if r["selection"] == "a"} == {0}
    assert sum(r["selection"] == "b" for r in kept) == 2


def test_status_lines_count_rows_against_the_plan():
    m = _mod()
    rows = [*_rows("full", "epochs", 0, 3), *_rows("full", "epochs", 1, 3), *_rows("a", "epochs", 0, 3),
            *_rows("a", "steps", 0, 1)]  # fmt: skip
    text = "\n".join(m.status_lines(rows, ["full", "a", "b"], cells=3, seeds=2))
    # planned: 3 cells x 2 seeds x (1 + 2 selections x 2 arms) = 30
    assert "10 of 30 planned" in text
    assert "| 0 | epochs | 1 of 2 | — | b |" in text
    assert "| 0 | steps | 0 of 2 | a (1) | b |" in text
    assert "| 1 | epochs | 0 of 2 | — | all |" in text


def test_choose_recipe_on_seed_zero_alone():
    m = _mod()
    a = {**_pilot("a", 0.3, 5.0), "tau_truth_per_seed": [0.6, 0.1]}
    b = {**_pilot("b", 0.45, 9.0), "tau_truth_per_seed": [0.4, 0.5]}
    c = {**_pilot("c", 0.9, 1.0, seeds=1), "seed0_cells": 12}  # seed 0 not complete: left out
    assert m.choose_recipe([a, b, c], first_seed=True)[0] == "a"
    assert m.choose_recipe([a, b])[0] == "b"


def test_choose_recipe_counts_a_second_seed_still_running_as_not_done():
    m = _mod()
    running = {**_pilot("a", 0.9, 1.0), "rows": 30}  # seed 1 has 10 of 20 cells
    assert m.choose_recipe([running, _pilot("b", 0.3, 5.0)])[0] is None
