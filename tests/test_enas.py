"""ENAS as xautodl initialises it, several controller samples per batch, and a controller that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

import proxydata
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas import EnasController, EnasNetwork, ReinforceSettings, search
from proxydata.nas.enas import EnasArchStep

XAUTODL_UNIFORM = ("start", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "embedding.weight", "head.weight")


def test_xautodl_initialises_five_tensors_uniformly_and_leaves_the_rest_to_pytorch() -> None:
    ctrl = EnasController(seed=0)
    assert ctrl.init == "xautodl"
    params = dict(ctrl.named_parameters())
    for name in XAUTODL_UNIFORM:
        assert params[name].abs().max().item() <= 0.1, name
    # PyTorch's LSTM/Linear default is U(-1/sqrt(32), 1/sqrt(32)) = U(-0.177, 0.177): of 4,096
    # values some exceed 0.1 (each with probability 0.43)
    bound = 1 / math.sqrt(32)
    for name in ("lstm.bias_ih_l0", "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_hh_l1", "head.bias"):
        values = params[name].abs()
        assert values.max().item() > 0.1 and values.max().item() <= bound + 1e-7, name


def test_enas_init_draws_every_parameter_uniformly() -> None:
    ctrl = EnasController(init="enas", seed=0)
    assert all(p.abs().max().item() <= 0.1 for p in ctrl.parameters())
    # same seed, different rule: different parameters
    other = EnasController(seed=0)
    assert not torch.equal(ctrl.lstm.bias_ih_l0, other.lstm.bias_ih_l0)


def test_init_is_checked_and_reproducible() -> None:
    with pytest.raises(ProxydataValueError, match="init"):
        EnasController(init="zeros")
    with pytest.raises(ProxydataValueError, match="controller_init"):
        EnasNetwork(C=2, N=1, controller_init="zeros")
    a, b = EnasController(seed=3), EnasController(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_reinforce_settings_as_a_dict_and_samples_per_batch_checked() -> None:
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=0, reinforce={"samples_per_batch": 3, "aggregate": 2})
    assert net.reinforce == ReinforceSettings(samples_per_batch=3, aggregate=2)
    with pytest.raises(ProxydataValueError, match="samples_per_batch"):
        ReinforceSettings(samples_per_batch=0)
    with pytest.raises(ProxydataValueError, match="unknown_key"):
        EnasNetwork(C=2, N=1, reinforce={"unknown_key": 1})
    with pytest.raises(ProxydataTypeError, match="reinforce"):
        EnasNetwork(C=2, N=1, reinforce=[1.0])


def test_several_samples_per_batch_each_update_and_the_first_is_returned() -> None:
    digits = proxydata.IndexedDataset(proxydata.load_digits())
    loader = DataLoader(Subset(digits, list(range(32))), batch_size=8)
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=0, reinforce={"samples_per_batch": 3, "aggregate": 2})
    step = EnasArchStep(net, torch.Generator().manual_seed(0))
    (xv, yv, _) = next(iter(loader))
    # the first sample of the step, drawn from the same generator state
    first = net.controller.sample(torch.Generator().manual_seed(0))
    logits, loss = step.step(xv, yv)
    assert step.reinforce.samples == 3 and step.reinforce.updates == 1  # 3 samples, aggregate 2
    with torch.no_grad():
        torch.testing.assert_close(logits, net(xv, arch=first.index))
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, yv).item())
    step.step(xv, yv)
    assert step.reinforce.samples == 6 and step.reinforce.updates == 3


def test_sampling_entropy_is_that_of_a_near_uniform_policy_at_the_start() -> None:
    ctrl = EnasController(seed=0)
    h = ctrl.sampling_entropy(samples=32, seed=1)
    assert 6 * math.log(5) - 0.05 < h <= 6 * math.log(5)
    assert h == ctrl.sampling_entropy(samples=32, seed=1)  # its own generator
    state = torch.random.get_rng_state()
    ctrl.sampling_entropy()
    assert torch.equal(torch.random.get_rng_state(), state)


def _enas_search(labels: np.ndarray | None, reinforce: dict, epochs: int = 4) -> tuple[str, list[float]]:
    digits = proxydata.load_digits()
    if labels is not None:
        digits = ArrayDataset(np.stack([digits[i][0].numpy() for i in range(len(digits))]), labels)
    ds = proxydata.IndexedDataset(digits)
    order = np.random.default_rng(0).permutation(len(ds))
    train = DataLoader(Subset(ds, order[:96].tolist()), batch_size=16, shuffle=True)
    val = DataLoader(Subset(ds, order[96:192].tolist()), batch_size=16, shuffle=True)
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=0, reinforce=reinforce)
    entropy = [net.controller.sampling_entropy(samples=16)]

    def track(epoch: int, result: object, network: EnasNetwork) -> bool:
        entropy.append(network.controller.sampling_entropy(samples=16))
        return False

    result = search(net, train, val, algo="enas", epochs=epochs, seed=0, progress=False, callbacks=(track,))
    return result.genotype, entropy


LEARNS = {"samples_per_batch": 8, "aggregate": 1, "lr": 0.01}


@pytest.mark.slow
def test_the_controller_learns_with_several_samples_per_batch_and_its_cell_depends_on_the_data() -> None:
    cell, entropy = _enas_search(None, LEARNS)
    # the sampling entropy falls from the near-uniform 9.65 nats, by 0.25 nat in all (to 9.28 here;
    # one sample per batch in updates of 20 moves it by less than 0.05, the test below)
    assert entropy[0] > 9.6 and entropy[-1] < entropy[0] - 0.25
    # the same search with the labels permuted finds another cell: the data decides it
    labels = np.random.default_rng(5).permutation(proxydata.load_digits().targets)
    other, _ = _enas_search(labels, LEARNS)
    assert other != cell


def test_one_sample_per_batch_in_updates_of_20_leaves_the_policy_where_it_started() -> None:
    # 6 batches x 4 epochs = 24 samples: one update; the policy barely moves (why the runs use more)
    _, entropy = _enas_search(None, {"samples_per_batch": 1, "aggregate": 20})
    assert abs(entropy[-1] - entropy[0]) < 0.05
