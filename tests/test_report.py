"""benchmarks/report: the results page's statistics, verdict rules and tables on hand-made records."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
OTHER = "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def _mod(name: str) -> Any:
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(f"report.{name}")


def _bdp(limit: str = "ours", crit: str = "low/high") -> dict:
    tc, vc = crit.split("/")
    return {"interval": 2, "train_ratio": 0.1, "val_ratio": 0.1, "train_criterion": tc,
            "val_criterion": vc, "limit": limit}  # fmt: skip


def _run(method: str, seed: int, c10: float, genotype: str = CELL, **extra: Any) -> dict:
    """A protocol-v2 DARTS-V1 record with the fields the page reads."""
    rec = {"protocol": 2, "algo": "darts-v1", "method": method, "ratio": 1.0, "seed": seed, "options": {},
           "genotype": genotype, "key": f"{method}|{seed}|{extra.get('options')}",
           "accuracies": {"cifar10_test_200ep": c10, "cifar100_test_200ep": 50.0,
                          "imagenet16_test_200ep": 20.0},
           "train_pool": 100, "val_size": 100, "kept_train": 100, "train_sizes": [100] * 4,
           "val_sizes": [100] * 4, "search_seconds": 10.0, "search_cpu_seconds": 10.0,
           "config": {"batch_size": 10}}  # fmt: skip
    rec.update(extra)
    return rec


# ---------------------------------------------------------------- statistics


def test_holm_by_hand() -> None:
    st = _mod("statistics")
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> running max 0.06
    assert st.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert st.holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1, then monotone
    assert st.holm([0.2]) == [0.2]  # one test: unchanged
    assert st.holm([]) == []
    with pytest.raises(ValueError, match="p_values"):
        st.holm([0.1, 1.5])


def test_one_sided_paired_t_test_by_hand() -> None:
    st = _mod("statistics")
    # d = (5, 2, 10): t = (17/3) / (sqrt(49/3) / sqrt(3)) = 2.4286, df 2; one-sided upper tail
    # P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2 = 0.068.
    d = np.array([5.0, 2.0, 10.0])
    t = 2.4286
    assert st.one_sided_p(d, "greater") == pytest.approx((1 - t / np.sqrt(t**2 + 2)) / 2, abs=1e-4)
    assert st.one_sided_p(-d, "less") == pytest.approx((1 - t / np.sqrt(t**2 + 2)) / 2, abs=1e-4)
    # Non-inferiority by 1: d + 1 = (1.5, 0.5), t = 1 / (sqrt(0.5) / sqrt(2)) = 2, df 1:
    # P(T > 2) = 1/2 - arctan(2) / pi = 0.1476.
    assert st.one_sided_p(np.array([0.5, -0.5]), "greater", 1.0) == pytest.approx(
        0.5 - np.arctan(2) / np.pi, abs=1e-6
    )
    assert st.one_sided_p(np.array([1.0, 1.0]), "greater") == 0.0  # no spread, in H1's direction
    assert st.one_sided_p(np.array([0.0, 0.0]), "greater") == 1.0  # identical: no evidence
    assert st.one_sided_p(np.array([3.0]), "greater") is None  # one pair: no test
    with pytest.raises(ValueError, match="alternative"):
        st.one_sided_p(d, "two-sided")


def test_paired_test_pairs_by_seed() -> None:
    st = _mod("statistics")

    def runs(accs: dict[int, float]) -> list[dict]:
        return [{"seed": s, "accuracies": {"cifar10_test_200ep": a}} for s, a in accs.items()]

    # seed 3 has no partner and is left out: d = (5, 2, 10), population std sqrt(98/9) = 3.30
    text, p = st.paired_test(runs({0: 90, 1: 80, 2: 70, 3: 50}), runs({0: 85, 1: 78, 2: 60}))
    assert text == "seed-paired difference +5.67 ± 3.30 over 3 seeds"
    assert p == pytest.approx(0.068, abs=1e-3)
    text, p = st.paired_test(runs({0: 90, 1: 80}), runs({0: 90, 1: 80}))
    assert text.endswith("identical in every seed") and p == 1.0
    assert st.paired_test(runs({0: 90}), runs({0: 80}))[1] is None


# ---------------------------------------------------------------- verdicts


def test_verdicts_show_seeds_raw_and_holm_p() -> None:
    vd = _mod("verdicts")
    few = vd.Verdict(claim="5", subject="a", outcome=vd.HOLDS, seeds=3, detail="x", p=0.01)
    enough = vd.Verdict(claim="5", subject="b", outcome=vd.HOLDS, seeds=8, detail="y", p=0.004)
    fails = vd.Verdict(claim="5", subject="c", outcome=vd.FAILS, seeds=8, detail="z", p=0.9)
    untested = vd.Verdict(claim="5", subject="d", outcome=vd.FAILS, seeds=8, detail="w", no_test="why")
    # Holm over 3 tests: 0.004·3 = 0.012, 0.01·2 = 0.02, 0.9; the verdict listed twice is one test.
    assert vd.apply_holm([few, enough, fails, untested, enough]) == 3
    assert enough.p_holm == pytest.approx(0.012) and few.p_holm == pytest.approx(0.02)
    assert vd.render(few) == (
        "- a: x → **insufficient seeds: 3 of 8** — on the means: holds; "
        "raw p = 0.010, Holm p = 0.020: survives at 5 %."
    )
    assert vd.render(enough).startswith("- b: y → **holds**; raw p = 0.004, Holm p = 0.012")
    assert vd.render(untested) == "- d: w → **does not hold**; no test: why."
    assert vd.tally([few, enough, fails, untested]) == (
        "on ≥ 8 seeds 1 holds, 2 not; 1 undecided on fewer than 8 seeds (1 holding on the means); "
        "2 of 3 tests survive Holm"
    )


# ---------------------------------------------------------------- claims


def test_claim2_fails_a_collapsed_proxy() -> None:
    """The old rule (full mean − full std = 61.9 − 10.7) let a proxy at the all-skip cell's 54.30 pass."""
    claims = _mod("claims_static")
    full = [_run("full", 0, 54.30, ALL_SKIP), _run("full", 1, 77.09), _run("full", 2, 54.30, ALL_SKIP)]
    proxy = [_run("rs", s, 54.30, ALL_SKIP, ratio=0.5) for s in range(3)]
    verdict = next(v for v in claims.claim2(full + proxy) if not isinstance(v, str))
    assert verdict.outcome == "does not hold" and "worse: rs r=0.5 (54.30)" in verdict.detail
    good = [_run("rs", s, a, ratio=0.5) for s, a in enumerate((61.0, 77.09, 60.0))]  # mean 66.0 ≥ 61.9 − 1
    verdict = next(v for v in claims.claim2(full + good) if not isinstance(v, str))
    assert verdict.outcome == "holds" and verdict.seeds == 3 and verdict.p is not None


def test_claim5_counts_identical_settings_once_and_needs_both_clocks() -> None:
    bdp = _mod("claims_bdp")
    full = [_run("full", s, 80.0 + s, OTHER) for s in range(8)]
    ours = [_run("bdp", s, 82.0 + s, search_cpu_seconds=5.0, options={"bdp": _bdp("ours")},
                 train_sizes=[50] * 4, val_sizes=[50] * 4) for s in range(8)]  # fmt: skip
    none = [
        dict(r, options={"bdp": _bdp("none")}, search_cpu_seconds=6.0) for r in ours
    ]  # same cells: 0.6 CPU
    verdicts = bdp.claim5_verdicts(full + ours + none)
    assert len(verdicts) == 1  # one outcome
    (v,) = verdicts
    assert len(v.members) == 2 and "one outcome with" in v.detail
    # samples 0.5 of full, CPU 0.6 (the larger of the two settings) > 0.55: fails on the CPU clock
    assert v.outcome == "does not hold (cost above the rule)" and v.p is None
    cheap = [dict(r, search_cpu_seconds=5.0) for r in none]
    (v,) = bdp.claim5_verdicts(full + ours + cheap)
    assert v.outcome == "holds" and v.seeds == 8 and v.p == 0.0  # +2 in every seed


def test_claim5_headline_is_the_comparison_without_collapse() -> None:
    bdp = _mod("claims_bdp")
    aug = {"augment": 2}
    full = [_run("full", s, 54.30, ALL_SKIP) for s in range(3)]
    full_aug = [_run("full", s, 92.0, options=aug) for s in range(8)]
    runs = [_run("bdp", s, 80.0, options={"bdp": _bdp()}, train_sizes=[50] * 4, val_sizes=[50] * 4,
                 search_cpu_seconds=5.0) for s in range(3)]  # fmt: skip
    runs_aug = [_run("bdp", s, 91.0 + (s % 2), options={"bdp": _bdp(), **aug}, train_sizes=[50] * 4,
                     val_sizes=[50] * 4, search_cpu_seconds=5.0) for s in range(8)]  # fmt: skip
    verdicts = bdp.claim5_verdicts(full + full_aug + runs + runs_aug)
    top = bdp.headline(verdicts)
    assert [v.subject.split(" (n=")[0] for v in top] == [
        "darts-v1 bdp [T2 p0.1/0.1 low/high limit=ours augment=2]"
    ]
    assert top[0].outcome == "does not hold (accuracy below full data)"  # 91.5 < 92.0, stated as it is


def test_hessian_at_equal_architecture_steps_by_hand() -> None:
    bdp = _mod("claims_bdp")
    # batch 10: full makes 2 steps per epoch (steps 2, 4, 6, 8) with eigenvalues 1, 2, 3, 4;
    # BDP makes 2, 1, 1, 1 (steps 2, 3, 4, 5) and ends at 3.0. Equal epochs: 3.0 < 4.0;
    # equal steps: full data after 5 steps is 2.5 (between 2.0 at 4 and 3.0 at 6), and 3.0 > 2.5.
    full = [_run("full", s, 90.0, train_sizes=[20] * 4, hessian_eigenvalues=[1.0, 2.0, 3.0, 4.0 + s])
            for s in range(2)]  # fmt: skip
    runs = [_run("bdp", s, 90.0, options={"bdp": _bdp()}, train_sizes=[20, 10, 10, 10],
                 hessian_eigenvalues=[1.0, 2.0, 2.5, 3.0 + s]) for s in range(2)]  # fmt: skip
    by_claim = {v.claim: v for v in bdp.hessian_verdicts(full + runs)}
    assert by_claim["3c epochs"].outcome == "holds"
    steps = by_claim["3c steps"]
    assert steps.outcome == "does not hold" and "after as many steps 2.500 ± 0.000" in steps.detail
    assert "+1.000 ± 0.500 over 2 seeds" in steps.detail  # d = (0.5, 1.5)


def test_criterion_verdict_tests_low_high_against_every_other_cell() -> None:
    bdp = _mod("claims_bdp")
    runs = []
    for crit, base in (("low/high", 85.0), ("low/low", 80.0), ("high/low", 84.0)):
        runs += [_run("bdp", s, base + s % 2, options={"bdp": _bdp(crit=crit)}) for s in range(3)]
    (v,) = [x for x in bdp.criterion_sections(runs) if not isinstance(x, str)]
    assert v.outcome == "holds" and "only 3 of 4 cells run" in v.detail
    assert v.p == 0.0  # low/high is ahead of both others by the same amount in every seed


# ---------------------------------------------------------------- tables and folding


def _limit_rec(limit: str, c10: float, held: int, step: dict | None = None, genotype: str = CELL) -> dict:
    step = step or {"held_back_by": {"class_limit": held}, "protected_by": {"class_limit": 0}}
    history = [{"epoch": 2, "pruning_step": True, "n_train": 9, "train_balance": 0.9, "val_balance": 0.8,
                "train": step, "val": {}, "train_class_counts": [4, 5]}]  # fmt: skip
    return _run("bdp", 0, c10, genotype, options={"bdp": _bdp(limit)}, pruner_history=history,
                train_pool=10, val_size=10, kept_train=10, train_sizes=[10], val_sizes=[10])  # fmt: skip


def _claim6_text(records: list[dict]) -> str:
    bdp, page = _mod("claims_bdp"), _mod("page")
    families, verdicts = bdp.claim6_verdicts(records)
    return "\n".join(page.render_all(page.claim6_section(records, families, verdicts)))


def test_claim6_reads_v2_records_and_judges_the_limit() -> None:
    text = _claim6_text([_limit_rec("ours", 91.0, 7, genotype=OTHER), _limit_rec("none", 90.0, 0)])
    assert "| ours | 1 | 0 | 7 | 2 |" in text  # nothing protected, shortfall 7, first binding at epoch 2
    assert "91.00 with our limit vs 90.00 without" in text
    assert "changed the found cell in 1 of 1 → **insufficient seeds: 1 of 8** — on the means: holds" in text
    # The same cell with and without the limit: no difference to test.
    text = _claim6_text([_limit_rec("ours", 90.0, 7), _limit_rec("none", 90.0, 0)])
    assert "on the means: does not hold; no test: the same cell in every seed" in text
    # Protection alone (the step pruned as many as asked) is binding too.
    protecting = {"held_back_by": {"class_limit": 0}, "protected_by": {"class_limit": 5, "min_per_class": 1}}
    text = _claim6_text([_limit_rec("ours", 89.0, 0, protecting, OTHER), _limit_rec("none", 90.0, 0)])
    assert "| ours | 1 | 5 | 0 | 2 |" in text and "on the means: does not hold" in text
    # Records without protected_by: class 0 was pruned exactly to its limit 2 (< floor cap 5): the
    # limit's; class 1 pruned to its floor (min_per_class 1) with a looser limit: not the limit's.
    legacy = {"held_back_by": {"class_limit": 0}, "counts_before": [6, 6], "protected": [1, 2, 3]}
    text = _claim6_text(
        [_limit_rec("ours", 91.0, 0, {**legacy, "limits": [2, 6]}), _limit_rec("none", 90.0, 0)]
    )
    assert "| ours | 1 | 3 | 0 | 2 |" in text
    text = _claim6_text(
        [_limit_rec("ours", 91.0, 0, {**legacy, "limits": [3, 6]}), _limit_rec("none", 90.0, 0)]
    )
    assert "| ours | 1 | 0 | 0 | never |" in text
    text = _claim6_text([_limit_rec("ours", 91.0, 0), _limit_rec("none", 90.0, 0)])
    assert "**not tested**" in text


def test_balance_per_step_by_hand() -> None:
    tables = _mod("tables")

    def rec(limit: str, seed: int, balances: list[tuple[float, float]]) -> dict:
        # Epoch 1 is not a pruning step and must not appear; epochs 2 and 4 are.
        history = [{"epoch": 1, "pruning_step": False, "train_balance": 0.0, "val_balance": 0.0}] + [
            {"epoch": 2 * (i + 1), "pruning_step": True, "train_balance": t, "val_balance": v}
            for i, (t, v) in enumerate(balances)
        ]
        return {"protocol": 2, "algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": seed,
                "options": {"bdp": _bdp(limit)}, "genotype": "g", "pruner_history": history}  # fmt: skip

    lines = tables.balance_per_step(
        [
            rec("ours", 0, [(0.9, 0.8), (0.7, 0.5)]),
            rec("ours", 1, [(0.7, 0.6), (0.5, 0.3)]),  # mean: 0.80 / 0.70, then 0.60 / 0.40
            rec("none", 0, [(0.8, 0.7), (0.4, 0.9)]),
        ]
    )
    text = "\n".join(lines)
    assert "| limit | seeds | epoch 2 | epoch 4 |" in text
    assert "| ours | 2 | 0.80 / 0.70 | 0.60 / 0.40 |" in text
    assert "| none | 1 | 0.80 / 0.70 | 0.40 / 0.90 |" in text
    # Final val B: 0.40 with our limit, 0.90 without; final train B is higher with it (0.60 vs 0.40).
    assert lines[-1].endswith("low/high]` val (0.40 vs 0.90).")


def test_report_folds_a_run_without_the_hessian_into_its_twin() -> None:
    records = _mod("records")

    def rec(seed: int, hessian: int | None, cpu: float, genotype: str = CELL) -> dict:
        opts = {"hessian": hessian} if hessian else {}
        return {"protocol": 2, "algo": "darts-v1", "method": "full", "ratio": 1.0, "seed": seed,
                "options": opts, "genotype": genotype, "search_cpu_seconds": cpu, "wall_seconds": cpu + 1,
                "search_seconds": cpu + 2,
                "hessian_eigenvalues": [1.0] if hessian else [], "key": f"{seed}|{hessian}"}  # fmt: skip

    merged = records.merge_hessian_twins([rec(0, 128, 300.0), rec(1, 128, 310.0), rec(0, None, 200.0)])
    assert len(merged) == 2
    by_seed = {r["seed"]: r for r in merged}
    assert by_seed[0]["search_cpu_seconds"] == 200.0 and by_seed[0]["hessian_eigenvalues"] == [1.0]
    assert by_seed[0]["search_seconds"] == 202.0 and by_seed[0]["wall_seconds"] == 201.0
    assert by_seed[0]["cost_without_hessian"] == "0|None" and not records.with_hessian(by_seed[0])
    assert by_seed[1]["search_cpu_seconds"] == 310.0 and records.with_hessian(by_seed[1])
    with pytest.raises(ValueError, match="different cells"):
        records.merge_hessian_twins([rec(0, 128, 300.0), rec(0, None, 200.0, CELL.replace("skip", "none"))])


def test_architecture_steps_count_training_batches() -> None:
    records = _mod("records")
    assert records.arch_steps({"config": {"batch_size": 64}, "train_sizes": [5000, 4466, 277]}) == [
        79,
        149,
        154,
    ]


def test_committed_page_is_generated_from_the_results_file(tmp_path: Path) -> None:
    """docs/results.md is what write_report makes from reproduction.jsonl alone (regenerate if this fails)."""
    page = _mod("page")
    out = tmp_path / "results.md"
    page.write_report(REPO / "benchmarks" / "results" / "reproduction.jsonl", out, tmp_path / "figures")
    assert out.read_text(encoding="utf-8") == (REPO / "docs" / "results.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- BDP's Tables 1 and 2 (issue 18)


def _text(section: list) -> str:
    return "\n".join(_mod("page").render_all(section))


def test_tables_say_not_run_without_records() -> None:
    tables = _mod("claims_tables")
    (t1, v1), (t2, v2), (t3, v3) = (tables.table1_section([]), tables.table2_section([]),
                                    tables.table3_section([]))  # fmt: skip
    assert v1 == v2 == v3 == []
    for ratio in ("1:9", "3:7", "5:5", "7:3", "9:1"):
        assert f"| {ratio} | 0 | not run |" in _text(t1)
    assert "- Table 1: not judged" in _text(t1)
    assert "| low/high | 0 | not run |" in _text(t2) and "| DARTS | 0 | not run |" in _text(t2)
    assert "--grid table1 table2 table3 --seeds 0 1 2 3 4 5 6 7" in _text(t3)
    assert _text(t3).count("| not run") == 20  # 4 criteria x 5 combinations


def test_table1_judges_7_3_and_9_1_against_5_5_on_the_mean_and_in_collapses() -> None:
    tables = _mod("claims_tables")
    runs = [_run("full", s, 54.3, genotype=ALL_SKIP) for s in range(3)]  # 5:5 collapses every seed
    runs += [_run("full", s, 80.0 + s, options={"sizes": "1400+600"}) for s in range(3)]  # 7:3
    runs += [_run("full", s, 54.3, genotype=ALL_SKIP, options={"sizes": "200+1800"}) for s in range(3)]  # 1:9
    section, (mean_v, collapse_v) = tables.table1_section(runs)
    assert mean_v.claim == "T1" and mean_v.outcome == "holds" and mean_v.seeds == 3
    assert "7:3 − 5:5 = +26.70" in mean_v.detail  # (80 + 81 + 82) / 3 − 54.3
    # one ratio only (9:1 not run): Bonferroni over one test is the test itself; +25.7, +26.7, +27.7
    assert mean_v.p is not None and mean_v.p < 0.001
    # 0 of 3 collapses against 3 of 3: Fisher one-sided C(3,0) C(3,3) / C(6,3) = 1 / 20
    assert collapse_v.claim == "T1 collapse" and collapse_v.outcome == "holds"
    assert collapse_v.p == pytest.approx(0.05)
    text = _text(section)
    assert "| 1:9 | 3 | 100.0 ± 0.0 | 3/3 (44–100 %) | – |" in text
    assert "| 7:3 | 3 | 100.0 ± 0.0 | 0/3 (0–56 %) | 81.00 (3) |" in text
    assert "| 9:1 | 0 | not run |" in text and "insufficient seeds: 3 of 8" in text


def _once_opts(crit: str, p: float = 0.0556) -> dict:
    tc, vc = crit.split("/")
    return {"bdp": {"interval": 2, "train_ratio": p, "val_ratio": p, "train_criterion": tc,
                    "val_criterion": vc, "limit": "none", "score": "el2n", "pruning": "once"}}  # fmt: skip


def test_table2_finds_its_cells_by_the_one_shot_share_and_tests_low_high_against_darts() -> None:
    tables = _mod("claims_tables")
    cfg = {"batch_size": 10, "epochs": 20}
    runs = [_run("full", s, 54.3, genotype=ALL_SKIP, config=cfg) for s in range(4)]
    runs += [_run("bdp", s, 85.0, options=_once_opts("low/high"), config=cfg) for s in range(4)]
    runs += [_run("bdp", s, 70.0, options=_once_opts("high/low"), config=cfg) for s in range(4)]
    # 9 steps x 0.1067 = 96 %: not a Table 2 cell (it is the ablation's one-shot run at 4 %)
    runs += [_run("bdp", s, 99.0, options=_once_opts("low/low", 0.1067), config=cfg) for s in range(4)]
    cells = tables.table2_cells(runs)
    assert len(cells["low/high"]) == len(cells["high/low"]) == 4 and cells["low/low"] == []
    section, (mean_v, collapse_v) = tables.table2_section(runs)
    assert mean_v.outcome == "holds" and "CIFAR-10 85.00 vs 54.30" in mean_v.detail
    assert mean_v.p == 0.0  # +30.7 in every seed: no spread, strictly in H1's direction
    # 0 of 4 against 4 of 4: 1 / C(8, 4) = 1 / 70
    assert collapse_v.p == pytest.approx(1 / 70)
    assert "| low/low | 0 | not run |" in _text(section)


def test_table3_averages_over_combinations_and_pairs_by_combination_and_seed() -> None:
    tables = _mod("claims_tables")
    suites = _mod("records").__dict__["options_label"].__globals__  # suites' namespace
    ratios = suites["PAPER_RATIOS"]

    def opts(train: str, val: str, crit: str) -> dict:
        tc, vc = crit.split("/")
        return {"bdp": {"interval": 2, "train_ratio": ratios[train], "val_ratio": ratios[val],
                        "train_criterion": tc, "val_criterion": vc, "limit": "none"}}  # fmt: skip

    runs = []
    # low/high: 80 at 4/4, 90 at 14/14; low/low: 70 and 86 (two seeds each)
    for (t, v), lh, ll in ((("4pct", "4pct"), 80.0, 70.0), (("14pct", "14pct"), 90.0, 86.0)):
        for s in range(2):
            runs.append(_run("bdp", s, lh + s, options=opts(t, v, "low/high")))
            runs.append(_run("bdp", s, ll + s, options=opts(t, v, "low/low")))
    runs.append(_run("bdp", 0, 99.0, options=opts("9pct", "9pct", "low/low")))  # low/low alone: not averaged
    section, (v,) = tables.table3_section(runs)
    text = _text(section)
    assert "averages over the 2 combination(s) every criterion ran: low/high 85.50, low/low 78.50" in v.detail
    # averages: low/high (80.5 + 90.5) / 2 = 85.50, best 90.50; low/low (70.5 + 86.5) / 2 = 78.50, best 86.50
    assert (
        "| low/high | 80.50 ± 0.50 (2) | not run | not run | 90.50 ± 0.50 (2) | not run | 85.50 | 90.50 |"
        in text
    )
    assert v.claim == "T3" and v.outcome == "holds" and v.seeds == 2
    # differences paired by (combination, seed): 10, 10, 4, 4 -> mean 7, sample std 3.46, t = 4.04, 3 df
    assert "+7.00 ± 3.00 over 4 (combination, seed) pairs" in v.detail
    assert v.p == pytest.approx(0.01367, abs=2e-4)


def test_wilson_interval_and_fisher_test_by_hand() -> None:
    bi = _mod("bistable")
    low, high = bi.wilson(2, 8)
    assert low == pytest.approx(0.0715, abs=1e-4) and high == pytest.approx(0.5907, abs=1e-4)
    assert bi.wilson(0, 4) == (0.0, pytest.approx(0.4899, abs=1e-4))  # z²/(n + z²) = 3.8415 / 7.8415
    assert bi.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        bi.wilson(3, 2)
    a = [_run("full", s, 80.0) for s in range(8)]
    b = [_run("full", s, 54.3, genotype=ALL_SKIP) for s in range(6)] + [_run("full", s, 80.0) for s in (6, 7)]
    assert bi.fewer_collapses_p(a, b) == pytest.approx(28 / 8008)  # C(8,0) C(8,6) / C(16,6)
    assert bi.fewer_collapses_p(b, a) == pytest.approx(1.0)
    s = bi.collapse_summary(b)
    assert (s.k, s.n) == (6, 8) and s.mean_rest == 80.0
    assert s.mean_all == pytest.approx((6 * 54.3 + 2 * 80.0) / 8)
    assert s.share_text() == "6/8 (41–93 %)"


def test_limit_target_and_reached_shares_by_hand() -> None:
    lim = _mod("limits")
    opts = {"bdp": {"interval": 2, "train_ratio": 0.1067, "val_ratio": 0.0956, "train_criterion": "low",
                    "val_criterion": "high", "limit": "ours"}}  # fmt: skip
    rec = _run("bdp", 0, 80.0, options=opts, config={"batch_size": 10, "epochs": 20},
               final_train=10, final_val=25, train_pool=100, val_size=100)  # fmt: skip
    # 9 steps: 1 − 9 · 0.1067 = 0.0397, 1 − 9 · 0.0956 = 0.1396
    t = lim.target_share(rec)
    assert t[0] == pytest.approx(0.0397) and t[1] == pytest.approx(0.1396)
    assert lim.reached_share(rec) == (0.10, 0.25)
    note = lim.shortfall_note([rec])
    assert "asks for 4 % / 14 %" in note and "kept 10.0 % / 25.0 %" in note
    assert lim.shortfall_note([{**rec, "final_train": 5, "final_val": 15}]) == ""  # within 1.5x
