"""β-DARTS regulariser, Hessian eigenvalue, schedules, augmentation, data accounting (issue 12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from proxydata.experiment import data_used, full_data_samples
from proxydata.nas import (
    ALGORITHMS,
    CropFlipDataset,
    SearchNetwork,
    beta_decay_loss,
    beta_decay_weight,
    cosine_lr,
    dominant_hessian_eigenvalue,
    search,
)


def test_beta_decay_loss_value_and_gradient_by_hand() -> None:
    alpha = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    loss = beta_decay_loss(alpha)
    # edge 1: log(1 + 3) = log 4; edge 2: log(2e) = 1 + log 2; mean of the two
    expected = (math.log(4.0) + 1.0 + math.log(2.0)) / 2
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-12)
    (grad,) = torch.autograd.grad(loss, alpha)
    # d/d alpha_{e,k} = softmax(alpha_e)_k / |E|
    hand = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=torch.float64) / 2
    assert torch.allclose(grad, hand, atol=1e-12)


def test_beta_decay_loss_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="alpha"):
        beta_decay_loss(torch.zeros(5))
    with pytest.raises(TypeError, match="alpha"):
        beta_decay_loss([[1.0, 2.0]])  # type: ignore[arg-type]


def test_beta_decay_weight_ramps_linearly_to_lambda_max() -> None:
    assert beta_decay_weight(0, 20, 25.0) == 0.0
    assert beta_decay_weight(10, 20, 25.0) == pytest.approx(12.5)
    assert beta_decay_weight(19, 20, 25.0) == pytest.approx(23.75)


def test_cosine_lr_end_points() -> None:
    assert cosine_lr(0, 10, 0.025, 0.001) == pytest.approx(0.025)
    assert cosine_lr(5, 10, 0.025, 0.001) == pytest.approx(0.013)


def test_hessian_eigenvalue_of_a_quadratic() -> None:
    # L(p) = 1/2 p^T A p has Hessian A; its dominant eigenvalue is 5 (eigenvalues 5, 2, -1)
    q = torch.linalg.qr(
        torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [1.5, 0.2, 1.0]], dtype=torch.float64)
    )[0]
    a = q @ torch.diag(torch.tensor([5.0, 2.0, -1.0], dtype=torch.float64)) @ q.T
    p = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True)
    value, vec = dominant_hessian_eigenvalue(lambda: 0.5 * p @ a @ p, p, iterations=200, tol=1e-12)
    assert value == pytest.approx(5.0, rel=1e-8)
    assert abs(float(vec @ q[:, 0])) == pytest.approx(1.0, abs=1e-6)


def test_hessian_eigenvalue_keeps_the_sign_of_a_negative_dominant_eigenvalue() -> None:
    a = torch.diag(torch.tensor([-4.0, 1.0], dtype=torch.float64))
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    value, _ = dominant_hessian_eigenvalue(lambda: 0.5 * p @ a @ p, p, iterations=300, tol=1e-12)
    assert value == pytest.approx(-4.0, rel=1e-6)


def test_hessian_eigenvalue_rejects_params_without_grad() -> None:
    with pytest.raises(TypeError, match="params"):
        dominant_hessian_eigenvalue(lambda: torch.zeros(()), torch.zeros(2))


def _loaders(n_train: int, n_val: int, batch: int) -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_val, 3, 8, 8, generator=g)
    y = torch.arange(n_train + n_val) % 3
    train = TensorDataset(x[:n_train], y[:n_train])
    val = TensorDataset(x[n_train:], y[n_train:])
    return DataLoader(train, batch_size=batch), DataLoader(val, batch_size=batch)


def test_beta_darts_and_hessian_recorded_per_epoch() -> None:
    assert "beta-darts" in ALGORITHMS
    train, val = _loaders(24, 16, 8)
    net = SearchNetwork(C=4, N=1, num_classes=3, in_channels=3, algo="darts", seed=0)
    batch = next(iter(val))
    result = search(
        net,
        train,
        val,
        algo="beta-darts",
        epochs=2,
        progress=False,
        hessian_batch=batch,
        hessian_iterations=3,
    )
    assert result.beta_weights == [0.0, 12.5]
    assert len(result.hessian_eigenvalues) == 2
    assert all(math.isfinite(v) for v in result.hessian_eigenvalues)
    assert len(result.hessian_seconds) == 2 and all(t >= 0 for t in result.hessian_seconds)


def test_hessian_probe_leaves_the_search_and_the_network_unchanged() -> None:
    # The probe's forward passes run in training mode; batch-norm running statistics must not
    # keep their updates, or a supernet evaluated afterwards would differ from one searched without it.
    nets, alphas = [], []
    for probe in (False, True):
        train, val = _loaders(24, 16, 8)
        net = SearchNetwork(C=4, N=1, num_classes=3, in_channels=3, algo="darts", seed=0)
        kwargs = {"hessian_batch": next(iter(val)), "hessian_iterations": 2} if probe else {}
        alphas.append(search(net, train, val, algo="darts-v1", epochs=2, progress=False, **kwargs).alphas)
        nets.append(net.state_dict())
    np.testing.assert_array_equal(alphas[0], alphas[1])
    assert nets[0].keys() == nets[1].keys()
    for name in nets[0]:
        assert torch.equal(nets[0][name], nets[1][name]), name


def test_beta_darts_with_zero_lambda_equals_darts_v1() -> None:
    runs = []
    for algo, kwargs in (("darts-v1", {}), ("beta-darts", {"beta_lambda_max": 0.0})):
        train, val = _loaders(24, 16, 8)
        net = SearchNetwork(C=4, N=1, num_classes=3, in_channels=3, algo="darts", seed=0)
        runs.append(search(net, train, val, algo=algo, epochs=1, progress=False, **kwargs).alphas)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_hessian_batch_needs_a_darts_algorithm() -> None:
    train, val = _loaders(8, 8, 8)
    net = SearchNetwork(C=4, N=1, num_classes=3, in_channels=3, algo="gdas", seed=0)
    with pytest.raises(ValueError, match="hessian_batch"):
        search(net, train, val, algo="gdas", epochs=1, progress=False, hessian_batch=next(iter(val)))


@pytest.mark.parametrize(
    ("n_train", "n_val", "batch"), [(100, 40, 16), (40, 100, 16), (64, 64, 16), (50, 7, 8)]
)
def test_full_data_search_uses_exactly_all_the_data(n_train: int, n_val: int, batch: int) -> None:
    train, val = _loaders(n_train, n_val, batch)
    net = SearchNetwork(C=2, N=1, num_classes=3, in_channels=3, algo="darts", seed=0)
    result = search(net, train, val, epochs=2, progress=False)
    assert full_data_samples(n_train, n_val, batch) == (result.train_sizes[0], result.val_sizes[0])
    record = {"train_pool": n_train, "val_size": n_val, "config": {"batch_size": batch}, **result.to_dict()}
    assert data_used(record) == 1.0


def test_crop_flip_is_seeded_and_keeps_shape() -> None:
    base = TensorDataset(
        torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4), torch.tensor([0, 1])
    )
    a, b = CropFlipDataset(base, padding=1, seed=3), CropFlipDataset(base, padding=1, seed=3)
    first = [a[0][0] for _ in range(6)]
    assert all(torch.equal(x, y) for x, y in zip(first, [b[0][0] for _ in range(6)]))
    assert all(x.shape == (3, 4, 4) for x in first)
    assert any(not torch.equal(first[0], x) for x in first[1:])  # later reads draw new crops
    assert a[1][1] == 1
    plain = CropFlipDataset(base, padding=0, flip=False, seed=0)
    assert torch.equal(plain[1][0], base[1][0])
