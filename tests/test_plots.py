"""proxydata.plots: figures from run records, without touching matplotlib's global state."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="proxydata.plots needs the plot extra (matplotlib)")

from proxydata import (  # noqa: E402
    ProxydataTypeError,
    ProxydataValueError,
    load_digits,
    plots,
)
from proxydata.data import split_indices  # noqa: E402
from proxydata.experiment import SearchConfig, run_search  # noqa: E402


@pytest.fixture(scope="module")
def search_records() -> list[dict[str, Any]]:
    """Real run_search records: full data, RS at two ratios, the pruner; tiny settings."""
    digits = load_digits()
    pool, _ = split_indices(len(digits), 0.2, seed=0, stratify=digits.targets)
    first, second = split_indices(pool.size, 0.5, seed=0, stratify=digits.targets[pool])
    train, val = pool[first], pool[second]
    tiny = {"algo": "darts-v1", "epochs": 3, "C": 2, "N": 1, "batch_size": 60, "progress": False}
    configs = [
        SearchConfig(**tiny),
        SearchConfig(**tiny, proxy="rs", ratio=0.5),
        SearchConfig(**tiny, proxy="rs", ratio=0.25),
        SearchConfig(**tiny, bdp=True, bdp_kwargs={"interval": 2, "class_balance": False}),
    ]
    return [run_search(digits, train, val, config) for config in configs]


def errorbar_line(ax: Any, label: str) -> Any:
    """The data line of the error-bar series labelled ``label``."""
    (container,) = [c for c in ax.containers if c.get_label() == label]
    return container.lines[0]


def test_run_fields_reads_run_search_records(search_records) -> None:
    fields = [plots.run_fields(r) for r in search_records]
    assert [f["method"] for f in fields] == ["full", "rs", "rs", "bdp-nobalance"]
    assert [f["ratio"] for f in fields] == [1.0, 0.5, 0.25, 1.0]
    assert {f["algo"] for f in fields} == {"darts-v1"} and {f["seed"] for f in fields} == {0}


def test_run_fields_prefers_top_level_keys_and_names_what_is_missing() -> None:
    record = {"algo": "gdas", "method": "cc-or", "ratio": "0.5", "seed": 2, "config": {"algo": "darts-v1"}}
    assert plots.run_fields(record) == {"algo": "gdas", "method": "cc-or", "ratio": 0.5, "seed": 2}
    with_balance = {"config": {"algo": "gdas", "bdp": True, "ratio": 1.0, "seed": 0, "proxy": None}}
    assert plots.run_fields(with_balance)["method"] == "bdp"
    with pytest.raises(ProxydataValueError, match="'seed'"):
        plots.run_fields({"algo": "gdas", "method": "rs", "ratio": 0.5})


def test_group_mean_std_by_hand() -> None:
    records = [
        {"algo": "a", "method": "rs", "ratio": 0.5, "seed": 0, "search_seconds": 1.0},
        {"algo": "a", "method": "rs", "ratio": 0.5, "seed": 1, "search_seconds": 3.0},
        {
            "algo": "a",
            "method": "rs",
            "ratio": 0.25,
            "seed": 0,
            "search_seconds": 5.0,
            "accuracies": {"acc": 7},
        },
    ]
    stats = plots.group_mean_std(records, "search_seconds")
    assert stats == {("a", "rs", 0.25): (5.0, 0.0, 1), ("a", "rs", 0.5): (2.0, 1.0, 2)}
    assert plots.group_mean_std(records[2:], "acc") == {("a", "rs", 0.25): (7.0, 0.0, 1)}


def test_run_search_records_are_plotted(search_records, tmp_path: Path) -> None:
    fig = plots.plot_time_vs_ratio(search_records, path=str(tmp_path / "time.png"))
    assert (tmp_path / "time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = fig.axes
    assert ax.get_title() == "darts-v1"
    rs = {r.config["ratio"]: r.result.search_seconds for r in search_records if r.config["proxy"] == "rs"}
    line = errorbar_line(ax, "rs")
    assert np.allclose(line.get_xdata(), [0.25, 0.5]) and np.allclose(line.get_ydata(), [rs[0.25], rs[0.5]])
    labels = {ln.get_label() for ln in ax.get_lines()}
    assert {"full (r=1)", "bdp-nobalance (r=1)"} <= labels  # single-ratio runs: reference lines

    fig = plots.plot_kept_sizes(search_records)
    train_ax, val_ax = fig.axes
    bdp = search_records[-1]
    (line,) = [ln for ln in train_ax.get_lines() if ln.get_label() == "bdp-nobalance s0"]
    assert list(line.get_ydata()) == bdp.result.train_sizes
    (line,) = [ln for ln in val_ax.get_lines() if ln.get_label() == "bdp-nobalance s0"]
    assert list(line.get_ydata()) == bdp.result.val_sizes

    fig = plots.plot_operation_distribution(search_records)
    (ax,) = fig.axes
    heights = np.array([p.get_height() for p in ax.patches]).reshape(len(plots.NB201_OPS), -1)
    assert np.allclose(heights.sum(axis=0), 1.0)  # one bar per (algo, ratio), shares sum to one


def test_accuracy_plot_needs_accuracies_and_says_so(search_records) -> None:
    with pytest.raises(ProxydataValueError, match="cifar10_test_200ep"):
        plots.plot_accuracy_vs_ratio(search_records)
    scored = [
        {**r.to_dict(), "accuracies": {"cifar10_test_200ep": 90.0 + k}} for k, r in enumerate(search_records)
    ]
    (ax,) = plots.plot_accuracy_vs_ratio(scored).axes
    assert np.allclose(errorbar_line(ax, "rs").get_ydata(), [92.0, 91.0])  # r = 0.25 then 0.5


def test_importing_and_drawing_leave_matplotlib_state_alone(monkeypatch, search_records) -> None:
    """No backend switch (a notebook keeps its backend) and no figures left in pyplot."""
    import matplotlib.pyplot as plt

    def no_switch(*args: object, **kwargs: object) -> None:
        raise AssertionError("proxydata.plots switched matplotlib's backend")

    monkeypatch.setattr(matplotlib, "use", no_switch)
    before = plt.get_fignums()
    module = importlib.reload(plots)
    fig = module.plot_kept_sizes(search_records)
    module.plot_time_vs_ratio(search_records)
    assert plt.get_fignums() == before
    assert isinstance(fig, matplotlib.figure.Figure)


def test_bad_records_name_the_problem() -> None:
    with pytest.raises(ProxydataTypeError, match="records must be a list"):
        plots.plot_kept_sizes("runs.jsonl")
    with pytest.raises(ProxydataValueError, match="must not be empty"):
        plots.plot_time_vs_ratio([])
    with pytest.raises(ProxydataTypeError, match=r"records\[1\]"):
        plots.plot_time_vs_ratio([{"algo": "a"}, 3])
