"""Issue 19, static-proxy items: proxies of a split, unstable items, Lightning DDP, rank
agreement, edited files, counts, NaN images and timm records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proxydata.data import share_count, split_indices
from proxydata.samplers import proxy_size


# -- item 11: counts as a person computes them -------------------------------------------------------


def test_counts_are_computed_from_the_decimal_ratio() -> None:
    # 0.145 * 100 is 14.499999999999998 in floats; floor(14.5 + 0.5) = 15 by hand
    assert proxy_size(100, 0.145) == 15
    assert share_count(100, 0.145) == 15
    assert share_count(5, 0.5) == 3 and share_count(10, 0.04) == 0 and share_count(0, 0.3) == 0
    first, _ = split_indices(100, 0.145, seed=0)
    assert first.size == 15


def test_the_pruner_counts_with_the_same_rule() -> None:
    from proxydata import BiLevelPruner

    labels = np.repeat(np.arange(2), 100)
    train, val = np.arange(0, 200, 2), np.arange(1, 200, 2)
    pruner = BiLevelPruner(labels, train, val, epochs=4, interval=2, train_prune_ratio=0.145,
                           val_prune_ratio=0.145, seed=0)
    assert pruner.schedule.asked == (15, 15)


def test_share_count_refuses_bad_input() -> None:
    from proxydata.exceptions import ProxydataValueError

    with pytest.raises(ProxydataValueError, match="n must"):
        share_count(-1, 0.5)
    with pytest.raises(ProxydataValueError, match="share must"):
        share_count(3, float("nan"))
