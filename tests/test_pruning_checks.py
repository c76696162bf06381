"""Cases the pruner used to accept silently: each is now an error or a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from proxydata import BiLevelPruner, ProxydataValueError
from proxydata.metrics import class_prune_limits

Y = np.arange(40) % 4


def _run(pruner: BiLevelPruner, epochs: int | None = None) -> BiLevelPruner:
    g = torch.Generator().manual_seed(0)
    for _ in range(pruner.epochs if epochs is None else epochs):
        idx = torch.from_numpy(np.concatenate([pruner.kept_train, pruner.kept_val]))
        pruner.observe(idx, torch.randn(len(idx), pruner.num_classes, generator=g))
        pruner.step()
    return pruner


def test_limit_fn_returning_inf_means_no_limit():
    # inf used to be cast to -2**63: nothing was ever pruned.
    def no_limit(counts, num_steps, balance):
        return np.full(len(counts), np.inf)

    kw = dict(epochs=5, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25)
    unlimited = _run(BiLevelPruner(Y, range(20), range(20, 40), limit_fn=no_limit, **kw))
    off = _run(BiLevelPruner(Y, range(20), range(20, 40), class_balance=False, **kw))
    assert len(unlimited.kept_train) == 10
    assert unlimited.kept_train.tolist() == off.kept_train.tolist()
    assert unlimited.history[1]["train"]["limits"] == [5, 5, 5, 5]  # "no limit": the class count


def test_limit_fn_mixing_inf_and_integers_and_rejecting_nan():
    def half_inf(counts, num_steps, balance):
        return [np.inf, 0, np.inf, 0]

    p = _run(BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2, limit_fn=half_inf))
    assert set(Y[p.history[1]["train"]["indices"]].tolist()) <= {0, 2}
    nan = BiLevelPruner(
        Y, range(20), range(20, 40), epochs=3, interval=2, limit_fn=lambda c, s, b: [np.nan] * 4
    )
    with pytest.raises(TypeError, match="limit_fn must return non-negative integers or inf"):
        _run(nan)


@pytest.mark.parametrize(("epochs", "interval"), [(2, 2), (2, 5), (5, 5)])
def test_a_schedule_without_a_pruning_step_warns(epochs, interval):
    with pytest.warns(RuntimeWarning, match=f"epochs={epochs} <= interval={interval}"):
        p = BiLevelPruner(Y, range(20), range(20, 40), epochs=epochs, interval=interval)
    assert p.num_steps == 0


def test_no_warning_when_nothing_is_meant_to_be_pruned():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BiLevelPruner(Y, range(20), range(20, 40), epochs=2, train_prune_ratio=0.0, val_prune_ratio=0.0)


def test_step_and_observe_after_the_last_epoch_raise():
    p = _run(BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2))
    with pytest.raises(ProxydataValueError, match=r"step\(\) after the last epoch.*epochs=3"):
        p.step()
    with pytest.raises(ProxydataValueError, match=r"observe\(\) after the last epoch"):
        p.observe([0], torch.zeros(1, 4))
    assert p.epoch == 3 and len(p.history) == 3


def test_logits_with_more_columns_than_classes_raise_unless_num_classes_says_so():
    p = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)
    with pytest.raises(ProxydataValueError, match=r"must have 4 columns .* num_classes="):
        p.observe([0, 1], torch.zeros(2, 10))
    wide = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2, num_classes=10)
    wide.observe([0, 1], torch.zeros(2, 10))
    assert wide.class_counts("train").shape == (10,)
    with pytest.raises(ProxydataValueError, match="num_classes must be >= 4"):
        BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2, num_classes=3)


def test_logits_on_the_meta_device_do_not_pin_the_buffers():
    p = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)
    with pytest.raises(ProxydataValueError, match="meta"):
        p.observe([0, 1], torch.zeros(2, 4, device="meta"))
    assert not p.recorder.allocated
    p.observe([0, 1], torch.zeros(2, 4))
    assert p.recorder.device.type == "cpu"


def test_positional_settings_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="epochs, interval"):
        old = BiLevelPruner(Y, range(20), range(20, 40), 5, 2)
    new = BiLevelPruner(Y, range(20), range(20, 40), epochs=5, interval=2)
    assert (old.epochs, old.interval) == (new.epochs, new.interval)
    with pytest.raises(TypeError, match="two values for 'epochs'"):
        BiLevelPruner(Y, range(20), range(20, 40), 5, epochs=5)


def test_seed_beyond_the_generator_range_is_refused_at_construction():
    with pytest.raises(ProxydataValueError, match="seed must be <="):
        BiLevelPruner(Y, range(20), range(20, 40), epochs=5, seed=2**64)


def test_the_default_limit_is_the_documented_formula():
    p = BiLevelPruner(Y, range(20), range(20, 40), epochs=5, interval=2)
    assert p.limit_fn is class_prune_limits


@pytest.mark.parametrize(
    "values",
    [
        torch.tensor([0.5, -0.25]),  # negative: no EL2N
        torch.tensor([0.5, 1.5]),  # above sqrt(2)
        torch.tensor([0.5, 1e300], dtype=torch.float64),  # finite, far out of range
        torch.tensor([0.5, 1e300], dtype=torch.float64).float(),  # stored as inf
        torch.tensor([0.5, float("nan")]),
    ],
    ids=["negative", "above sqrt2", "1e300 float64", "1e300 as float32 inf", "nan"],
)
def test_observe_el2n_refuses_values_outside_el2n_range_before_recording(values):
    p = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)
    p.observe_el2n([0, 1], torch.tensor([0.25, 0.75]))
    before = p.state_dict()
    with pytest.raises(ProxydataValueError, match=r"el2n must .*nothing was recorded"):
        p.observe_el2n([2, 3], values)
    after = p.state_dict()
    assert torch.equal(after["current"], before["current"])
    assert sorted(p.train_sampler) == list(range(2, 20))  # 2 and 3 are still to be observed
    # the checkpoint written after the refusal still loads
    fresh = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)
    fresh.load_state_dict(after)


def test_observe_el2n_accepts_rounding_at_the_ends_and_stores_values_in_range():
    p = BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)
    top = float(torch.tensor(2.0).sqrt().nextafter(torch.tensor(3.0)))  # one float32 step above sqrt(2)
    p.observe_el2n([0, 1, 2], torch.tensor([top, -1e-9, 1.0]))
    sums = p.recorder.running()[0][:3]
    assert sums.max() <= np.float32(np.sqrt(2)) and sums.min() == 0.0
    with pytest.warns(RuntimeWarning, match="were observed"):
        p.step()
    BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2).load_state_dict(p.state_dict())
