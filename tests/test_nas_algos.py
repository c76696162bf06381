"""proxydata.nas: PC-DARTS and ENAS on the NAS-Bench-201 supernet (issue 18, item 4)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Subset, TensorDataset

import proxydata
from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.experiment import SearchConfig, run_search
from proxydata.nas import (
    ALGORITHMS,
    EDGES,
    NB201_OPS,
    EnasController,
    EnasNetwork,
    Genotype,
    PCDartsNetwork,
    ReinforceSettings,
    SearchNetwork,
    make_supernet,
    search,
)
from proxydata.nas.enas import EnasArchStep, Reinforce
from proxydata.nas.partial_channels import channel_shuffle
from proxydata.nas.spaces.nb201.pcdarts import PCDartsCell, edge_normalisation


def _batch(n: int = 6, channels: int = 1, size: int = 8, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, size, size, generator=g, dtype=dtype), torch.randint(
        0, 10, (n,), generator=g
    )


# ----------------------------------------------------------------------------- building blocks
def test_both_algorithms_are_in_the_one_list_and_build_their_supernets() -> None:
    assert ALGORITHMS[-2:] == ("pc-darts", "enas")
    kinds = {algo: type(make_supernet(algo, C=4, N=1, in_channels=1, seed=0)) for algo in ALGORITHMS}
    assert kinds["pc-darts"] is PCDartsNetwork and kinds["enas"] is EnasNetwork
    assert all(kinds[a] is SearchNetwork for a in ("darts-v1", "darts-v2", "beta-darts", "gdas"))
    assert make_supernet("gdas", C=4, N=1, seed=0).algo == "gdas"


@pytest.mark.parametrize("size,in_channels", [(8, 1), (16, 3)])
def test_output_shapes(size: int, in_channels: int) -> None:
    x = torch.randn(3, in_channels, size, size)
    pc = PCDartsNetwork(C=8, N=2, num_classes=7, in_channels=in_channels, K=4, seed=0)
    enas = EnasNetwork(C=4, N=1, num_classes=7, in_channels=in_channels, seed=0)
    assert pc(x).shape == (3, 7) and enas(x).shape == (3, 7)
    assert enas(x, arch=Genotype(("nor_conv_3x3",) * 6)).shape == (3, 7)
    assert pc.arch_parameters.shape == (6, 5) and pc.edge_parameters.shape == (6,)
    assert enas.arch_parameters.shape == (6, 5)
    # 1/K of the channels go through the operations: kernels of C/K channels
    cell = next(c for c in pc.cells if isinstance(c, PCDartsCell))
    assert cell.edges[0].conv_3x3.weight.shape == (2, 2, 3, 3)
    assert cell.edges[0].conv_1x1.weight.shape == (2, 2, 1, 1)


def test_channel_shuffle_by_hand() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # groups of 3 channels: (0 1 2)(3 4 5) -> 0 3 1 4 2 5
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    # two groups of size 3 -> 0 2 4 1 3 5
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    assert torch.equal(channel_shuffle(x, 1), x)


def test_edge_normalisation_by_hand() -> None:
    beta = torch.tensor([5.0, 0.0, math.log(3.0), 1.0, 1.0, 1.0])
    # PC-DARTS: a plain softmax per node: (1), (0.25, 0.75), (1/3, 1/3, 1/3)
    torch.testing.assert_close(edge_normalisation(beta), torch.tensor([1.0, 0.25, 0.75, 1 / 3, 1 / 3, 1 / 3]))
    # the earlier variant, rescale=True: j · softmax
    assert edge_normalisation(torch.zeros(6), rescale=True).tolist() == [1.0] * 6  # beta = 0: DARTS's sum
    s = edge_normalisation(beta, rescale=True)
    # node 1: one input, weight 1; node 2: 2 · softmax(0, log 3) = (0.5, 1.5); node 3: 3 · 1/3 each
    torch.testing.assert_close(s, torch.tensor([1.0, 0.5, 1.5, 1.0, 1.0, 1.0]))
    pc = PCDartsNetwork(C=4, N=1, seed=0)
    assert 0 < float(pc.edge_parameters.detach().abs().max()) < 0.01  # 1e-3 N(0, 1)
    assert PCDartsNetwork(C=4, N=1, seed=0, rescale=True).edge_parameters.detach().abs().max() == 0


def _reference_pc_cell(cell: PCDartsCell, x: torch.Tensor, alphas: torch.Tensor, beta: torch.Tensor | None):
    """PC-DARTS's cell by its formula, one operation at a time, shuffle by the index map."""
    c, K = cell.channels, cell.K
    part, m = c // K, c // K
    weights = torch.softmax(alphas, dim=-1)
    s = torch.ones(6, dtype=x.dtype) if beta is None else edge_normalisation(beta)
    nodes = [x]
    for j in range(1, 4):
        total = 0
        for i in range(j):
            e = EDGES.index((j, i))
            xi = nodes[i]
            mixed = sum(weights[e, k] * cell.edges[e].op(k, xi[:, :part], reference=True) for k in range(5))
            joined = torch.cat([mixed, xi[:, part:]], dim=1)
            shuffled = torch.empty_like(joined)
            for a in range(K):  # channel a·m + r moves to r·K + a
                for r in range(m):
                    shuffled[:, r * K + a] = joined[:, a * m + r]
            total = total + s[e] * shuffled
        nodes.append(total)
    return nodes[-1]


@pytest.mark.parametrize("K,edge_norm", [(4, True), (2, False), (1, True)])
def test_pc_cell_equals_its_formula(K: int, edge_norm: bool) -> None:
    torch.manual_seed(0)
    cell = PCDartsCell(8, K).double()
    x = torch.randn(3, 8, 5, 5, dtype=torch.float64)
    alphas = torch.randn(6, 5, dtype=torch.float64)
    beta = torch.randn(6, dtype=torch.float64) if edge_norm else None
    fast = cell(x, torch.softmax(alphas, dim=-1), None if beta is None else edge_normalisation(beta))
    torch.testing.assert_close(fast, _reference_pc_cell(cell, x, alphas, beta), rtol=1e-10, atol=1e-12)


def test_pc_darts_argument_errors() -> None:
    with pytest.raises(ProxydataValueError, match="K must divide C"):
        PCDartsNetwork(C=6, N=1, K=4)
    with pytest.raises(ProxydataValueError, match="K"):
        PCDartsNetwork(C=4, N=1, K=0)
    with pytest.raises(ProxydataTypeError, match="edge_norm"):
        PCDartsNetwork(C=4, N=1, edge_norm="yes")
    with pytest.raises(ProxydataValueError, match="make_supernet"):
        SearchNetwork(C=4, N=1, algo="pc-darts")
    with pytest.raises(ProxydataValueError, match="make_supernet"):
        SearchNetwork(C=4, N=1, algo="enas")
    with pytest.raises(ProxydataValueError, match="algo"):
        make_supernet("sdarts")


# ----------------------------------------------------------------------------- PC-DARTS == DARTS-V1
def _grads(net, x, y):
    net.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_pc_darts_with_k1_and_no_edge_norm_is_darts_v1_on_a_batch(dtype, tol) -> None:
    darts = SearchNetwork(C=4, N=1, in_channels=1, seed=3).to(dtype)
    pc = PCDartsNetwork(C=4, N=1, in_channels=1, K=1, edge_norm=False, seed=3).to(dtype)
    # same seed, same weights and alpha
    for name, p in darts.named_parameters():
        assert torch.equal(p, dict(pc.named_parameters())[name])
    x, y = _batch(dtype=dtype)
    loss_d, grads_d = _grads(darts, x, y)
    loss_p, grads_p = _grads(pc, x, y)
    assert loss_p == pytest.approx(loss_d, rel=tol, abs=tol)
    assert set(grads_p) == set(grads_d)  # beta is unused without edge normalisation
    for name, g in grads_d.items():
        torch.testing.assert_close(grads_p[name], g, rtol=tol, atol=tol)
    assert pc.arch_parameter_list() == [pc.arch_parameters]


def _indexed_loaders(n_train: int = 32, n_val: int = 32, batch_size: int = 16, seed: int = 0):
    ds = proxydata.IndexedDataset(proxydata.load_digits())
    order = np.random.default_rng(seed).permutation(len(ds))
    train = DataLoader(Subset(ds, order[:n_train].tolist()), batch_size=batch_size, shuffle=False)
    val = DataLoader(
        Subset(ds, order[n_train : n_train + n_val].tolist()), batch_size=batch_size, shuffle=False
    )
    return train, val


def test_pc_darts_k1_search_steps_equal_darts_v1() -> None:
    train, val = _indexed_loaders()
    out = {}
    for algo, net in (
        ("darts-v1", SearchNetwork(C=4, N=1, in_channels=1, seed=0)),
        ("pc-darts", PCDartsNetwork(C=4, N=1, in_channels=1, K=1, edge_norm=False, seed=0)),
    ):
        r = search(net, train, val, algo=algo, epochs=2, seed=0, progress=False)
        out[algo] = (r, [p.detach().clone() for p in net.weight_parameters()])
    (rd, wd), (rp, wp) = out["darts-v1"], out["pc-darts"]
    # the same operations in the same order: equal bit for bit
    np.testing.assert_array_equal(rp.alphas, rd.alphas)
    assert rp.train_loss == rd.train_loss and rp.val_loss == rd.val_loss
    assert rp.genotypes == rd.genotypes
    assert all(torch.equal(a, b) for a, b in zip(wp, wd))


def test_edge_normalisation_at_beta_zero_is_darts_and_beta_learns() -> None:
    darts = SearchNetwork(C=4, N=1, in_channels=1, seed=1).double()
    pc = PCDartsNetwork(C=4, N=1, in_channels=1, K=1, edge_norm=True, rescale=True, seed=1).double()
    x, y = _batch(seed=1)
    loss_d, grads_d = _grads(darts, x, y)
    loss_p, grads_p = _grads(pc, x, y)
    assert loss_p == pytest.approx(loss_d, rel=1e-12)
    torch.testing.assert_close(grads_p["arch_parameters"], grads_d["arch_parameters"])
    beta_grad = grads_p["edge_parameters"]
    assert beta_grad[0] == 0.0  # node 1 has a single input: softmax of one logit is constant
    assert beta_grad[1:].abs().min() > 0
    assert beta_grad[1:3].sum().abs() < 1e-12 and beta_grad[3:].sum().abs() < 1e-12  # softmax: sums to 0
    assert pc.arch_parameter_list() == [pc.arch_parameters, pc.edge_parameters]
    np.testing.assert_array_equal(pc.edge_weights(), np.ones(6))


def test_beta_never_changes_the_genotype() -> None:
    pc = PCDartsNetwork(C=4, N=1, in_channels=1, seed=2)
    before = pc.genotype()
    with torch.no_grad():
        pc.edge_parameters.copy_(torch.tensor([9.0, -9.0, 9.0, -9.0, 9.0, 0.0]))
    assert pc.genotype() == before == Genotype.from_alphas(pc.arch_parameters)


# ----------------------------------------------------------------------------- ENAS controller
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_controller_samples_valid_cells_with_their_log_prob(seed: int) -> None:
    ctrl = EnasController(seed=0).double()
    sample = ctrl.sample(torch.Generator().manual_seed(seed))
    assert len(sample.index) == 6 and all(0 <= k < 5 for k in sample.index)
    assert sample.genotype == Genotype(tuple(NB201_OPS[k] for k in sample.index))
    # the log-probability recomputed along the sampled path (teacher forcing)
    torch.testing.assert_close(sample.log_prob, ctrl.log_prob(sample.index))
    torch.testing.assert_close(sample.log_prob, ctrl.log_prob(str(sample.genotype)))
    assert 0.0 < sample.entropy.item() <= 6 * math.log(5) + 1e-9
    again = ctrl.sample(torch.Generator().manual_seed(seed))
    assert again.index == sample.index


def test_controller_logits_are_bounded_by_the_tanh_constant() -> None:
    ctrl = EnasController(tanh_constant=0.5, temperature=1.0, seed=0)
    with torch.no_grad():
        ctrl.head.bias.fill_(100.0)
        ctrl.head.bias[2] = -100.0
    log_probs, index = ctrl.greedy()
    # logits in [-c, c]: probabilities at most e^{2c} apart
    spread = (log_probs.max(dim=1).values - log_probs.min(dim=1).values).max().item()
    assert spread <= 2 * 0.5 + 1e-6
    assert 2 not in index


def test_greedy_decoding_is_the_genotype_and_the_mirrored_alphas() -> None:
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=4)
    log_probs, index = net.controller.greedy()
    assert net.genotype() == Genotype(tuple(NB201_OPS[k] for k in index))
    assert net.genotype() == Genotype.from_alphas(net.arch_parameters)
    torch.testing.assert_close(net.arch_parameters.detach(), log_probs)
    np.testing.assert_allclose(net.arch_weights().sum(axis=1), 1.0)
    # a greedy path is a path: its log-probability is the sum of the chosen entries
    chosen = log_probs[torch.arange(6), torch.tensor(index)].sum()
    torch.testing.assert_close(net.controller.log_prob(index).detach(), chosen)


def test_enas_supernet_shares_the_darts_weights_and_runs_only_the_sampled_ops() -> None:
    darts = SearchNetwork(C=4, N=1, in_channels=1, seed=5)
    enas = EnasNetwork(C=4, N=1, in_channels=1, seed=5)
    shared = dict(enas.named_weight_parameters())
    assert not any(n.startswith("controller.") for n in shared)
    for name, p in darts.named_weight_parameters():
        assert torch.equal(p, shared[name])
    # an architecture as one-hot DARTS weights gives the same logits
    x, _ = _batch(4, dtype=torch.float64, seed=5)
    darts.double()
    enas.double()
    index = (3, 0, 1, 4, 2, 3)
    with torch.no_grad():
        darts.arch_parameters.copy_(F.one_hot(torch.tensor(index), 5).double() * 1e4)
        torch.testing.assert_close(enas(x, arch=index), darts(x))
    # the weights of operations that did not run get no gradient
    F.cross_entropy(enas(x, arch=(1,) * 6), torch.zeros(4, dtype=torch.long)).backward()
    cells = [c for c in enas.cells if hasattr(c, "edges")]
    assert all(e.conv_3x3.weight.grad is None for c in cells for e in c.edges)


def test_enas_arguments_are_checked() -> None:
    with pytest.raises(ProxydataTypeError, match="controller"):
        EnasNetwork(C=2, N=1, controller=torch.nn.LSTM(2, 2))
    with pytest.raises(ProxydataTypeError, match="reinforce"):
        EnasNetwork(C=2, N=1, reinforce=(1.0,))
    with pytest.raises(ProxydataValueError, match="baseline_decay"):
        ReinforceSettings(baseline_decay=1.0)
    with pytest.raises(ProxydataValueError, match="aggregate"):
        ReinforceSettings(aggregate=0)
    with pytest.raises(ProxydataTypeError, match="betas"):
        ReinforceSettings(betas=(0.0,))
    with pytest.raises(ProxydataValueError, match="temperature"):
        EnasController(temperature=0.0)
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=0)
    with pytest.raises(ProxydataValueError, match="operation indices"):
        net(torch.zeros(1, 1, 8, 8), arch=(0, 1, 2, 3, 4, 5))
    with pytest.raises(ProxydataTypeError, match="arch"):
        net(torch.zeros(1, 1, 8, 8), arch=(0, 1))


# ----------------------------------------------------------------------------- REINFORCE
@pytest.mark.parametrize("score,direction", [(1.0, 1), (-1.0, -1)])
def test_reinforce_moves_the_sample_in_the_sign_of_its_advantage(score: float, direction: int) -> None:
    ctrl = EnasController(seed=0).double()
    rl = Reinforce(ctrl, ReinforceSettings(entropy_weight=0.0, aggregate=1, lr=1e-2))
    rl.baseline = torch.tensor(0.0, dtype=torch.float64)
    sample = ctrl.sample(torch.Generator().manual_seed(0))
    before = ctrl.log_prob(sample.index).item()
    assert rl.update(sample, score)
    # b <- b - (1 - d)(b - R): advantage R - b = 0.99 R
    assert rl.baseline.item() == pytest.approx(0.01 * score)
    after = ctrl.log_prob(sample.index).item()
    assert direction * (after - before) > 0


def test_reinforce_aggregates_then_steps_and_starts_its_baseline_at_the_first_reward() -> None:
    ctrl = EnasController(seed=1)
    rl = Reinforce(ctrl, ReinforceSettings(aggregate=3))
    before = [p.detach().clone() for p in ctrl.parameters()]
    g = torch.Generator().manual_seed(1)
    first = ctrl.sample(g)
    assert not rl.update(first, 0.5)
    assert rl.baseline.item() == pytest.approx(0.5 + 1e-4 * first.entropy.item())
    assert not rl.update(ctrl.sample(g), 0.9)
    assert all(torch.equal(p, b) for p, b in zip(ctrl.parameters(), before))  # accumulated only
    assert rl.update(ctrl.sample(g), 0.1) and rl.updates == 1
    assert any(not torch.equal(p, b) for p, b in zip(ctrl.parameters(), before))
    assert all(p.grad is None for p in ctrl.parameters())


def test_reinforce_learns_a_toy_reward() -> None:
    # reward 1 when edge 0 runs nor_conv_3x3, else 0: the controller must come to prefer it
    ctrl = EnasController(seed=2)
    rl = Reinforce(ctrl, ReinforceSettings(aggregate=1, lr=0.02, baseline_decay=0.9))
    g = torch.Generator().manual_seed(2)

    def p_conv3() -> float:
        with torch.no_grad():
            output, _ = ctrl.lstm(ctrl.start, None)
            return ctrl._log_probs(output)[3].exp().item()

    start = p_conv3()
    for _ in range(150):
        sample = ctrl.sample(g)
        rl.update(sample, 1.0 if sample.index[0] == 3 else 0.0)
    assert start < 0.3 and p_conv3() > 0.6


# ----------------------------------------------------------------------------- the loop
class SnapshotPruner:
    """A pruner contract stand-in that snapshots every parameter at each observe call."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network
        self.snapshots = [self._snap()]
        self.kinds: list[str] = []

    def _snap(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.network.named_parameters()}

    def observe(self, indices, logits) -> None:
        assert not logits.requires_grad
        self.kinds.append("val" if int(indices.min()) >= 1000 else "train")
        self.snapshots.append(self._snap())

    def step(self) -> None:
        pass


def _changed(a: dict, b: dict) -> set[str]:
    return {n for n in a if not torch.equal(a[n], b[n])}


@pytest.mark.parametrize("algo", ["pc-darts", "enas"])
def test_each_step_changes_only_its_parameters(algo: str) -> None:
    ds = proxydata.IndexedDataset(proxydata.load_digits())
    # small validation batches: their accuracies (the rewards) differ between samples
    train = DataLoader(Subset(ds, list(range(48))), batch_size=8)
    val = DataLoader(Subset(ds, list(range(1000, 1048))), batch_size=8)
    kwargs = {"reinforce": ReinforceSettings(aggregate=1, lr=0.05)} if algo == "enas" else {}
    net = make_supernet(algo, C=4, N=1, in_channels=1, seed=0, **kwargs)
    pruner = SnapshotPruner(net)
    search(net, train, val, algo=algo, epochs=1, pruner=pruner, seed=0, progress=False)
    assert pruner.kinds == ["val", "train"] * 6
    weights = {n for n, _ in net.named_weight_parameters()}
    if algo == "pc-darts":
        arch = {"arch_parameters", "edge_parameters"}
    else:  # the controller, and alpha that mirrors its greedy decoding
        arch = {n for n, _ in net.named_parameters() if n.startswith("controller.")} | {"arch_parameters"}
    assert weights | arch == {n for n, _ in net.named_parameters()} and not weights & arch
    arch_changed = weight_changed = set()
    for k, kind in enumerate(pruner.kinds):
        changed = _changed(pruner.snapshots[k], pruner.snapshots[k + 1])
        if kind == "val":
            assert changed <= arch, changed - arch
            arch_changed = arch_changed | changed
        else:
            assert changed <= weights, changed - weights
            weight_changed = weight_changed | changed
    assert (
        "edge_parameters" in arch_changed if algo == "pc-darts" else "controller.head.weight" in arch_changed
    )
    assert "arch_parameters" in arch_changed and len(weight_changed) > 3


@pytest.mark.parametrize("algo", ["pc-darts", "enas"])
def test_search_with_a_bilevel_pruner_observes_every_kept_sample(algo: str) -> None:
    digits = proxydata.load_digits()
    ds = proxydata.IndexedDataset(digits)
    train_idx, val_idx = proxydata.split_indices(160, 0.5, seed=0, stratify=digits.targets[:160])
    pruner = proxydata.BiLevelPruner(
        digits.targets,
        train_idx,
        val_idx,
        epochs=4,
        interval=2,
        train_prune_ratio=0.2,
        val_prune_ratio=0.2,
        seed=0,
    )
    train_loader = DataLoader(ds, batch_size=20, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=20, sampler=pruner.val_sampler)
    net = make_supernet(algo, C=4, N=1, in_channels=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the pruner warns when kept samples went unseen
        r = search(net, train_loader, val_loader, algo=algo, epochs=4, pruner=pruner, seed=0, progress=False)
    assert r.algo == algo and r.epochs == 4
    assert Genotype.parse(r.genotype) == net.genotype()
    assert all(h["n_unobserved_train"] == 0 and h["n_unobserved_val"] == 0 for h in pruner.history)
    assert [h["n_observed_train"] for h in pruner.history] == r.train_set_sizes
    assert r.train_set_sizes[-1] < len(train_idx) and r.val_set_sizes[-1] < len(val_idx)
    assert r.train_sizes == r.train_set_sizes
    assert all(math.isfinite(v) for v in r.train_loss + r.val_loss)


@pytest.mark.parametrize("algo", ["pc-darts", "enas"])
def test_static_proxy_sampler_and_determinism(algo: str) -> None:
    digits = proxydata.load_digits()
    train_set, val_set = Subset(digits, list(range(100))), Subset(digits, list(range(100, 160)))
    results = []
    for _ in range(2):
        proxy = proxydata.ClassRandomProxy(train_set, ratio=0.5, seed=0)
        state = torch.random.get_rng_state()
        net = make_supernet(algo, C=4, N=1, in_channels=1, seed=0)
        r = search(
            net,
            DataLoader(train_set, batch_size=16, sampler=proxy),
            DataLoader(val_set, batch_size=16, shuffle=True),  # the global RNG, which search() seeds
            algo=algo,
            epochs=2,
            seed=7,
            progress=False,
        )
        assert torch.equal(torch.random.get_rng_state(), state)
        assert r.train_set_sizes == [len(proxy.indices)] * 2 == r.train_sizes
        results.append(r)
    a, b = results
    np.testing.assert_array_equal(a.alphas, b.alphas)
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss and a.genotypes == b.genotypes


def test_enas_loop_updates_the_controller_every_aggregate_samples() -> None:
    _, val = _indexed_loaders(n_train=64, n_val=64, batch_size=8)  # 8 batches
    net = EnasNetwork(C=2, N=1, in_channels=1, seed=0, reinforce=ReinforceSettings(aggregate=3))
    step = EnasArchStep(net, torch.Generator().manual_seed(0))
    for (xv, yv, _), _ in zip(val, range(7)):
        logits, loss = step.step(xv, yv)
        assert logits.shape == (8, 10) and not logits.requires_grad and loss.ndim == 0
    assert step.reinforce.samples == 7 and step.reinforce.updates == 2
    assert net.genotype() == Genotype.from_alphas(net.arch_parameters)


def test_search_refuses_a_supernet_of_another_algorithm() -> None:
    train, val = _indexed_loaders()
    with pytest.raises(ProxydataValueError, match="algo='enas'"):
        search(
            SearchNetwork(C=2, N=1, in_channels=1, seed=0), train, val, algo="enas", epochs=1, progress=False
        )
    with pytest.raises(ProxydataValueError, match="algo='darts-v1'"):
        search(PCDartsNetwork(C=4, N=1, in_channels=1, seed=0), train, val, epochs=1, progress=False)
    with pytest.raises(ValueError, match="hessian_batch"):
        search(
            EnasNetwork(C=2, N=1, in_channels=1, seed=0),
            train,
            val,
            algo="enas",
            epochs=1,
            progress=False,
            hessian_batch=(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)),
        )


@pytest.mark.parametrize("algo", ["pc-darts", "enas"])
def test_run_search_with_the_pruner_and_with_a_proxy(algo: str) -> None:
    digits = proxydata.load_digits()
    idx = np.random.default_rng(0).permutation(len(digits))
    train_idx, val_idx = np.sort(idx[:80]), np.sort(idx[80:160])
    base = dict(algo=algo, epochs=3, C=4, N=1, batch_size=20, seed=0, progress=False)
    pruned = run_search(
        digits, train_idx, val_idx, SearchConfig(**base, bdp=True, bdp_kwargs={"interval": 2})
    )
    assert pruned.result.algo == algo and pruned.config["algo"] == algo
    assert pruned.final_train < 80 and len(pruned.result.genotypes) == 3
    assert pruned.result.train_sizes[-1] == pruned.final_train < pruned.result.train_sizes[0] == 80
    proxied = run_search(digits, train_idx, val_idx, SearchConfig(**base, proxy="rs", ratio=0.5))
    assert proxied.kept_train == 40 and proxied.result.train_sizes == [40, 40, 40]
    Genotype.parse(proxied.genotype)


def test_tensor_batches_without_indices_work_without_a_pruner() -> None:
    x = torch.randn(24, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(24) % 10
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    for algo in ("pc-darts", "enas"):
        net = make_supernet(algo, C=4, N=1, in_channels=1, seed=0)
        r = search(net, loader, loader, algo=algo, epochs=1, progress=False)
        assert r.train_sizes == [24] and r.val_sizes == [24]
