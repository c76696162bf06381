"""What users look at (issue 30, item 4): the pruner's summary, its history and a ranking study
as tables (``to_pandas``) and figures (``plot_kept_sizes`` of a history, ``plot_ranking``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from proxydata import BiLevelPruner
from proxydata.fidelity import RankingStudy

matplotlib = pytest.importorskip("matplotlib")
from proxydata.plots import plot_kept_sizes, plot_ranking, plot_ranking_gaps, selection_group  # noqa: E402


def _run_pruner(epochs: int = 6) -> BiLevelPruner:
    """Two classes of 40; class 0's logits never change (VoE 0), class 1's are random.

    The training split prunes low VoE first, so VoE order alone would prune class 0
    only; at the second step the class-balance limit protects some of it.
    """
    y = np.repeat(np.arange(2), 40)
    pruner = BiLevelPruner(
        y, np.arange(0, 80, 2), np.arange(1, 80, 2), epochs=epochs, interval=2,
        train_prune_ratio=0.3, val_prune_ratio=0.3,
    )  # fmt: skip
    for _ in range(epochs):
        kept = torch.from_numpy(np.concatenate([pruner.kept_train, pruner.kept_val]))
        logits = torch.randn(len(kept), 2, generator=torch.Generator().manual_seed(pruner.epoch)) * 3
        logits[torch.from_numpy(y[kept.numpy()] == 0)] = torch.tensor([5.0, 0.0])
        pruner.observe(kept, logits)
        pruner.step()
    return pruner


@pytest.fixture(scope="module")
def pruner() -> BiLevelPruner:
    return _run_pruner()


# ------------------------------------------------------------------------------------ summary


def test_summary_has_a_labelled_column_for_what_the_class_limit_protected(pruner) -> None:
    text = pruner.summary()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("epoch"))
    for column in (
        "kept train",
        "pruned/asked train",
        "pruned/asked val",
        "protected train",
        "protected val",
    ):
        assert column in header
    assert "held back" not in header  # the old mixed column (train/val) is gone
    rows = {line.split()[0]: line.split() for line in lines if line.strip()[:1].isdigit()}
    for entry in pruner.history:
        if not entry["pruning_step"]:
            continue
        row = rows[str(entry["epoch"])]
        t, v = entry["train"], entry["val"]
        assert row[7:] == [
            f"{t['pruned']}/{t['asked']}",
            f"{v['pruned']}/{v['asked']}",
            str(t["protected_by"]["class_limit"]),
            str(v["protected_by"]["class_limit"]),
        ]
    # the data was made for the limit to bind at the second step
    assert pruner.history[3]["train"]["protected_by"]["class_limit"] > 0
    assert any(line.strip().startswith("protected:") for line in lines)  # the legend says what it counts


def test_summary_says_one_step_not_one_steps() -> None:
    p = BiLevelPruner(
        np.repeat(np.arange(2), 10), np.arange(0, 20, 2), np.arange(1, 20, 2), epochs=3, interval=2
    )
    assert "1 pruning step (" in p.summary() and "0 epochs done" in p.summary()


# ------------------------------------------------------------------------------------ to_pandas


def test_pruner_to_pandas_has_one_row_per_epoch_with_the_history_numbers(pruner) -> None:
    pytest.importorskip("pandas")
    frame = pruner.to_pandas()
    assert list(frame["epoch"]) == [h["epoch"] for h in pruner.history]
    assert list(frame["n_train"]) == [h["n_train"] for h in pruner.history]
    step = frame[frame["pruning_step"]]
    assert list(step["asked_train"]) == [12, 12]
    assert list(step["protected_by_limit_train"]) == [
        h["train"]["protected_by"]["class_limit"] for h in pruner.history if h["pruning_step"]
    ]
    assert frame.loc[0, "asked_train"] is None or np.isnan(frame.loc[0, "asked_train"])


def test_to_pandas_without_pandas_names_it(pruner, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(ImportError, match=r"BiLevelPruner.to_pandas\(\) needs pandas"):
        pruner.to_pandas()
    with pytest.raises(ImportError, match=r"RankingStudy.to_pandas\(\) needs pandas"):
        _study().to_pandas()


def _study() -> RankingStudy:
    def entry(name: str, ratio: float, tau: float, top: float) -> dict:
        return {
            "selection": name, "ratio": ratio, "tau_cross": tau, "tau_cross_ci": [tau - 0.1, tau + 0.1],
            "tau_cross_top": top, "ceiling": 0.4, "ceiling_ci": [0.3, 0.5], "ceiling_top": 0.2,
            "ceiling_top_ci": [0.0, 0.4],
        }  # fmt: skip

    agreement = [
        entry("full", 1.0, 0.45, 0.25),
        entry("rs r=0.1", 0.1, 0.05, 0.0),
        entry("rs r=0.5", 0.5, 0.3, 0.1),
        entry("cc-or r=0.1", 0.1, 0.1, 0.05),
        entry("cc-or r=0.25", 0.25, 0.2, 0.1),
        entry("bdp 4%", 0.04, 0.02, -0.1),
    ]
    rows = [
        {"selection": "full", "architecture": "a", "seed": 0, "test_acc": 50.0, "table": {"cifar10": 90.0}},
        {"selection": "rs r=0.1", "architecture": "a", "seed": 0, "test_acc": 40.0},
    ]
    return RankingStudy(settings={}, rows=rows, agreement=agreement)


def test_ranking_study_to_pandas_splits_intervals_and_tables() -> None:
    pytest.importorskip("pandas")
    study = _study()
    frame = study.to_pandas()
    assert list(frame["selection"]) == [a["selection"] for a in study.agreement]
    assert frame.loc[2, "tau_cross_ci_lo"] == pytest.approx(0.2) and frame.loc[2, "tau_cross_ci_hi"] == 0.4
    assert "tau_cross_ci" not in frame.columns
    rows = study.to_pandas("rows")
    assert rows.loc[0, "table_cifar10"] == 90.0 and np.isnan(rows.loc[1, "table_cifar10"])
    with pytest.raises(ValueError, match="which"):
        study.to_pandas("runs")


# ------------------------------------------------------------------------------------ figures


def test_plot_kept_sizes_draws_a_user_loops_pruner_history(pruner) -> None:
    expected_train = [h["n_observed_train"] + h["n_unobserved_train"] for h in pruner.history]
    for given in (pruner.history, pruner):
        fig = plot_kept_sizes(given)
        train_ax, val_ax = fig.axes[:2]
        (line,) = train_ax.get_lines()
        assert list(line.get_xdata()) == list(range(1, 7))
        assert list(line.get_ydata()) == expected_train == [40, 40, 28, 28, 16, 16]
        assert line.get_label() == "BiLevelPruner"
        assert list(val_ax.get_lines()[0].get_ydata()) == [40, 40, 28, 28, 16, 16]


def test_plot_ranking_draws_one_line_per_method_next_to_the_ceiling(tmp_path) -> None:
    study = _study()
    path = tmp_path / "ranking.png"
    fig = plot_ranking(study, str(path))
    assert path.stat().st_size > 0
    all_cells, top = fig.axes[:2]
    lines = {line.get_label(): line for line in all_cells.get_lines()}
    assert list(lines["rs"].get_xdata()) == [0.1, 0.5] and list(lines["rs"].get_ydata()) == [0.05, 0.3]
    assert list(lines["cc-or"].get_ydata()) == [0.1, 0.2]
    assert lines["bdp 4%"].get_marker() == "*" and lines["bdp 4%"].get_linestyle() == "None"
    assert lines["ceiling: full data seed-to-seed τ"].get_ydata()[0] == 0.4
    assert "full" not in lines  # the reference is the ceiling, not a point
    assert all_cells.get_xscale() == "log"
    top_lines = {line.get_label(): line for line in top.get_lines()}
    assert list(top_lines["rs"].get_ydata()) == [0.0, 0.1]
    assert top_lines["ceiling: full data seed-to-seed τ"].get_ydata()[0] == 0.2
    # the agreement list works as well as the study; another statistic too
    assert plot_ranking(study.agreement, statistic="tau_cross").axes[0].get_title() == "all cells"


def test_plot_ranking_refuses_what_is_not_an_agreement() -> None:
    with pytest.raises(TypeError, match="RankingStudy"):
        plot_ranking([])
    with pytest.raises(ValueError, match="agreement"):
        plot_ranking([{"selection": "full"}])
    with pytest.raises(ValueError, match="statistic='kappa'"):
        plot_ranking(_study(), statistic="kappa")


def test_selection_group() -> None:
    assert selection_group("cc-or r=0.5") == "cc-or"
    assert selection_group("cc-or 0.5") == "cc-or"
    assert selection_group("bdp 4%") == "bdp 4%"
    assert selection_group("mine") == "mine"


def test_plot_ranking_gaps_draws_each_interval_in_its_verdicts_colour() -> None:
    def entry(name: str, arm: str, gap: float, lo: float, hi: float, verdict: str) -> dict:
        return {"selection": name, "ratio": 0.5, "ceiling": 0.4, "arm": arm, "gap": gap,
                "gap_ci": [lo, hi], "verdict": verdict}  # fmt: skip

    agreement = [
        {"selection": "full", "ratio": 1.0, "ceiling": 0.4, "delta": 0.08},
        entry("rs r=0.5", "epochs", -0.02, -0.05, 0.01, "keeps"),
        entry("cc-or r=0.1", "epochs", -0.3, -0.4, -0.2, "loses"),
        entry("rs r=0.5", "steps", -0.1, -0.2, 0.0, "undecided"),
    ]
    fig = plot_ranking_gaps(agreement, titles={"epochs": "equal epochs"})
    epochs, steps = fig.axes[:2]
    assert epochs.get_title() == "equal epochs" and steps.get_title() == "steps"
    assert [t.get_text() for t in epochs.get_yticklabels()] == ["rs r=0.5", "cc-or r=0.1"]
    intervals = [ln for ln in epochs.get_lines() if len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == 1]
    assert list(intervals[0].get_xdata()) == [-0.4, -0.2] and intervals[0].get_color() == "tab:red"
    margin = [ln for ln in epochs.get_lines() if ln.get_label().startswith("margin")]
    assert margin[0].get_xdata()[0] == -0.08
    (undecided,) = [ln for ln in steps.get_lines() if list(ln.get_xdata()) == [-0.2, 0.0]]
    assert undecided.get_color() == "0.45"
    with pytest.raises(ValueError, match="gap"):
        plot_ranking_gaps(_study())
