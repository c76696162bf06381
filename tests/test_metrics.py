"""Every formula of proxydata.metrics against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from proxydata.exceptions import ProxydataError
from proxydata.metrics import (
    class_balance_degree,
    class_counts,
    class_means,
    class_prune_limits,
    distances_to_centroids,
    distances_to_class_means,
    el2n,
    el2n_unchecked,
    voe,
)

# -- el2n -------------------------------------------------------------------------------


def test_el2n_two_and_three_classes_by_hand() -> None:
    ln2, ln3 = math.log(2.0), math.log(3.0)
    logits = torch.tensor(
        [
            [0.0, 0.0, -1e4],  # p = (1/2, 1/2, 0), y = 0: ||(-1/2, 1/2, 0)|| = sqrt(1/2)
            [ln3, 0.0, -1e4],  # p = (3/4, 1/4, 0), y = 0: ||(-1/4, 1/4, 0)|| = sqrt(1/8)
            [0.0, ln2, 0.0],  # p = (1/4, 1/2, 1/4), y = 2: ||(1/4, 1/2, -3/4)|| = sqrt(14)/4
            [0.0, ln2, 0.0],  # same p, y = 1: ||(1/4, -1/2, 1/4)|| = sqrt(6)/4
        ],
        dtype=torch.float64,
    )
    targets = torch.tensor([0, 0, 2, 1])
    expected = [math.sqrt(0.5), math.sqrt(1 / 8), math.sqrt(14) / 4, math.sqrt(6) / 4]
    np.testing.assert_allclose(el2n(logits, targets).numpy(), expected, rtol=1e-12)


def test_el2n_saturated_logits_are_stable() -> None:
    # Softmax of (1000, 0) is (1, 0): error 0 for the right class, sqrt(2) for the wrong one.
    logits = torch.tensor([[1000.0, 0.0], [1000.0, 0.0]])
    out = el2n(logits, torch.tensor([0, 1]))
    np.testing.assert_allclose(out.numpy(), [0.0, math.sqrt(2.0)], atol=1e-6)
    assert out.dtype == torch.float32
    assert not out.requires_grad


def test_el2n_half_precision_is_computed_in_float32() -> None:
    logits = torch.tensor([[0.0, 0.0]], dtype=torch.float16)
    out = el2n(logits, torch.tensor([1]))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(math.sqrt(0.5), rel=1e-6)


@pytest.mark.parametrize(
    ("logits", "targets", "error", "match"),
    [
        (np.zeros((2, 2)), torch.tensor([0, 1]), TypeError, "logits"),
        (torch.zeros(2, 2), [0, 1], TypeError, "targets"),
        (torch.zeros(2), torch.tensor([0, 1]), ValueError, "logits"),
        (torch.zeros(2, 2), torch.tensor([0]), ValueError, "targets"),
        (torch.zeros(2, 2), torch.tensor([0.0, 1.0]), TypeError, "targets"),
        (torch.zeros(2, 2), torch.tensor([0, 2]), ValueError, "targets"),
        (torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]), ValueError, "logits"),
        (torch.zeros(1, 2, dtype=torch.long), torch.tensor([0]), TypeError, "logits"),
    ],
)
def test_el2n_rejects_bad_input(logits, targets, error, match) -> None:
    with pytest.raises(error, match=match):
        el2n(logits, targets)


# -- voe -------------------------------------------------------------------------------------


def test_voe_by_hand() -> None:
    history = np.array([[1.0, 2.0, 3.0], [1.0, 100.0, 3.0], [5.0, 7.0, 9.0]])
    mask = np.array([[True, True, True], [True, False, True], [False, True, False]])
    out = voe(history, mask)
    # Row 0: mean 2, ((1-2)^2 + 0 + (3-2)^2) / 3 = 2/3 (population variance).
    # Row 1: the 100 is unobserved: values 1, 3, mean 2, variance (1 + 1) / 2 = 1.
    # Row 2: a single observation has no VoE.
    assert out[0] == pytest.approx(2.0 / 3.0)
    assert out[1] == pytest.approx(1.0)
    assert np.isnan(out[2])
    assert out.dtype == np.float64


def test_voe_with_missing_epochs_matches_numpy_var() -> None:
    rng = np.random.default_rng(3)
    history = rng.random((50, 6))
    mask = rng.random((50, 6)) < 0.7
    out = voe(history, mask)
    for i in range(50):
        observed = history[i, mask[i]]
        if observed.size >= 2:
            assert out[i] == pytest.approx(np.var(observed), rel=1e-12, abs=1e-15)
        else:
            assert np.isnan(out[i])


def test_voe_torch_in_torch_out_and_default_mask() -> None:
    history = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    out = voe(history)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), [0.25, 0.0])


@pytest.mark.parametrize(
    ("history", "mask", "error", "match"),
    [
        ([[1.0, 2.0]], None, TypeError, "history"),
        (np.zeros(3), None, ValueError, "history"),
        (np.zeros((2, 3)), np.ones((2, 2), dtype=bool), ValueError, "mask"),
        (np.zeros((2, 3)), [[True] * 3] * 2, TypeError, "mask"),
    ],
)
def test_voe_rejects_bad_input(history, mask, error, match) -> None:
    with pytest.raises(error, match=match):
        voe(history, mask)


# -- class counts and balance ------------------------------------------------------------------


def test_class_counts() -> None:
    np.testing.assert_array_equal(class_counts([0, 2, 2, 1]), [1, 1, 2])
    np.testing.assert_array_equal(class_counts(torch.tensor([0, 2, 2, 1]), num_classes=5), [1, 1, 2, 0, 0])
    assert class_counts([]).shape == (0,)
    assert class_counts([1, 1]).dtype == np.int64


@pytest.mark.parametrize(
    ("labels", "num_classes", "error", "match"),
    [
        ([0, 3], 3, ValueError, "num_classes"),
        ([0, -1], None, ValueError, "labels"),
        ([0.5, 1.0], None, TypeError, "labels"),
        ("abc", None, TypeError, "labels"),
        ([0, 1], -1, ValueError, "num_classes"),
    ],
)
def test_class_counts_rejects_bad_input(labels, num_classes, error, match) -> None:
    with pytest.raises(error, match=match):
        class_counts(labels, num_classes)


def test_class_balance_degree_balanced_is_one() -> None:
    assert class_balance_degree([5, 5, 5]) == pytest.approx(1.0)
    assert class_balance_degree([7]) == 1.0  # fewer than two classes: balanced by definition


def test_class_balance_degree_skewed_with_an_empty_class() -> None:
    # K = 3, so the prefactor is 2 / (K (K - 1)) = 1/3. Pairs:
    # (10, 5): min/max = 5/10 = 1/2; (10, 0): 0; (5, 0): 0 (an empty class counts as 0).
    # B = (1/3) * (1/2 + 0 + 0) = 1/6.
    assert class_balance_degree([10, 5, 0]) == pytest.approx(1.0 / 6.0)


def test_class_balance_degree_skewed_and_one_empty() -> None:
    # (1, 2): 1/2; (1, 4): 1/4; (2, 4): 1/2 -> sum 5/4, times 1/3 = 5/12.
    assert class_balance_degree([1, 2, 4]) == pytest.approx(5.0 / 12.0)
    assert class_balance_degree([4, 2, 1]) == pytest.approx(5.0 / 12.0)  # order does not matter
    # One empty class in an otherwise balanced split: (4, 4): 1, (4, 0): 0, (4, 0): 0 -> 1/3.
    assert class_balance_degree([4, 4, 0]) == pytest.approx(1.0 / 3.0)
    assert class_balance_degree([0, 0]) == 0.0


def test_class_balance_degree_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="counts"):
        class_balance_degree([3, -1])


# -- class prune limits ------------------------------------------------------------------------


def test_class_prune_limits_at_full_balance_prunes_freely() -> None:
    # B = 1: S^(1 - B) = S^0 = 1, so N_k = n_k.
    np.testing.assert_array_equal(class_prune_limits([10, 10], num_steps=4), [10, 10])
    np.testing.assert_array_equal(class_prune_limits([10, 3], num_steps=4, balance=1.0), [10, 3])


def test_class_prune_limits_as_balance_tends_to_zero() -> None:
    # B = 0: N_k = floor(n_k / S): floor(10 / 4) = 2, floor(7 / 4) = 1.
    np.testing.assert_array_equal(class_prune_limits([10, 7], num_steps=4, balance=0.0), [2, 1])
    # B -> 0 from above approaches that limit.
    np.testing.assert_array_equal(class_prune_limits([10, 7], num_steps=4, balance=1e-9), [2, 1])
    # An exact quotient does not floor down: 6 / 2 = 3.
    np.testing.assert_array_equal(class_prune_limits([6], num_steps=2, balance=0.0), [3])


def test_class_prune_limits_with_computed_balance() -> None:
    # counts (8, 2): B = 2/(2*1) * (2/8) = 1/4; S = 4: divisor 4^(3/4) = 2.828...
    # N = floor(8 / 2.828) = 2, floor(2 / 2.828) = 0.
    np.testing.assert_array_equal(class_prune_limits([8, 2], num_steps=4), [2, 0])


@pytest.mark.parametrize(
    ("counts", "steps", "balance", "error", "match"),
    [
        ([3, 3], 0, None, ValueError, "num_steps"),
        ([3, 3], 2.5, None, TypeError, "num_steps"),
        ([3, 3], 2, 1.5, ValueError, "balance"),
        ([3, 3], 2, float("nan"), ValueError, "balance"),
        ([3, -3], 2, None, ValueError, "counts"),
    ],
)
def test_class_prune_limits_rejects_bad_input(counts, steps, balance, error, match) -> None:
    with pytest.raises(error, match=match):
        class_prune_limits(counts, steps, balance)


# -- distances to centroids --------------------------------------------------------------------


def test_distances_to_centroids_by_hand() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    centroids = np.array([[0.0, 0.0], [10.0, 1.0]])
    dist, assign = distances_to_centroids(x, centroids)
    np.testing.assert_array_equal(assign, [0, 0, 1])
    np.testing.assert_allclose(dist, [0.0, 5.0, 1.0])
    # Given assignments are used as they are, even when not the nearest.
    dist, assign = distances_to_centroids(x, centroids, assignments=[1, 1, 0])
    np.testing.assert_array_equal(assign, [1, 1, 0])
    np.testing.assert_allclose(dist, [math.hypot(10, 1), math.hypot(7, 3), 10.0])


def test_distances_to_centroids_matches_numpy_brute_force() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 7)).astype(np.float32)
    centroids = rng.standard_normal((5, 7)).astype(np.float32)
    dist, assign = distances_to_centroids(torch.from_numpy(x), centroids, batch_size=64)
    full = np.linalg.norm(x.astype(np.float64)[:, None, :] - centroids.astype(np.float64)[None], axis=2)
    np.testing.assert_array_equal(assign, full.argmin(axis=1))
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-12)
    assert dist.dtype == np.float64
    assert assign.dtype == np.int64


@pytest.mark.parametrize(
    ("x", "centroids", "assignments", "error", "match"),
    [
        ([[0.0]], np.zeros((1, 1)), None, TypeError, "x"),
        (np.zeros((3, 2)), np.zeros((2, 3)), None, ValueError, "columns"),
        (np.zeros(3), np.zeros((2, 3)), None, ValueError, "2-D"),
        (np.zeros((3, 2)), np.zeros((0, 2)), None, ValueError, "centroids"),
        (np.zeros((3, 2)), np.zeros((2, 2)), [0, 1], ValueError, "assignments"),
        (np.zeros((3, 2)), np.zeros((2, 2)), [0, 1, 2], ValueError, "assignments"),
        (np.zeros((3, 2), dtype=bool), np.zeros((2, 2)), None, TypeError, "x"),
    ],
)
def test_distances_to_centroids_rejects_bad_input(x, centroids, assignments, error, match) -> None:
    with pytest.raises(error, match=match):
        distances_to_centroids(x, centroids, assignments)


# -- present classes, class means ----------------------------------------------------------


def test_class_counts_over_given_classes_leaves_unused_ids_out() -> None:
    y = [7, 3, 7, 3, 3]
    np.testing.assert_array_equal(class_counts(y, classes=[3, 7]), [3, 2])
    np.testing.assert_array_equal(class_counts(y, classes=[7, 3, 5]), [2, 3, 0])  # order as given
    assert class_balance_degree(class_counts([3, 7], classes=np.unique([3, 7]))) == 1.0
    # Inferred from max(label) + 1, the unused ids 0-2 and 4-6 count as empty classes.
    assert class_balance_degree(class_counts([3, 7])) == pytest.approx(2 / (8 * 7))


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        ([1, 2], {"classes": [1]}, "classes"),
        ([1, 2], {"classes": [1, 2], "num_classes": 3}, "not both"),
        ([1], {"classes": []}, "classes"),
    ],
)
def test_class_counts_rejects_labels_outside_the_classes(labels, kwargs, match) -> None:
    with pytest.raises(ProxydataError, match=match):
        class_counts(labels, **kwargs)


def test_class_means_and_distances_by_hand() -> None:
    x = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [5.0, 9.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    blocks = lambda: (x[i : i + 3] for i in range(0, 4, 3))  # noqa: E731 - a re-iterable source
    means = class_means(blocks(), y, 2)
    np.testing.assert_allclose(means, [[1.0, 0.0], [5.0, 7.0]])
    np.testing.assert_allclose(distances_to_class_means(blocks(), y, means), [1.0, 1.0, 2.0, 2.0])


def test_class_means_refuse_a_nan_row_naming_it() -> None:
    x = np.zeros((5, 2), dtype=np.float32)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="sample 3"):
        class_means([x[:2], x[2:]], np.zeros(5, dtype=np.int64), 1)


def test_el2n_unchecked_is_el2n_without_checks() -> None:
    z = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    t = torch.tensor([0, 2])
    torch.testing.assert_close(el2n_unchecked(z, t), el2n(z, t))
