"""The DARTS-space supernet and its algorithms (issue 25, items 2, 3 and 5), at tiny scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from proxydata import BiLevelPruner, IndexedDataset
from proxydata.exceptions import ProxydataValueError
from proxydata.experiment import SearchConfig, run_search
from proxydata.nas import make_supernet, search
from proxydata.nas.darts import FirstOrderArchStep
from proxydata.nas.pdarts import drop_operations, pdarts_genotype, pdarts_search
from proxydata.nas.schedules import skip_dropout_rate
from proxydata.nas.search_options import DARTS_SPACE_ALGORITHMS
from proxydata.nas.spaces.darts import DARTS_OPS, DartsGenotype, DartsSupernet, derive_genotype, edge_softmax
from proxydata.nas.spaces.darts.search_cells import edge_index, node_edges

OPS = {op: k for k, op in enumerate(DARTS_OPS)}


def _batch(n: int = 4, size: int = 8, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def _random_alphas(net: DartsSupernet, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.arch_parameter_list():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


# ----------------------------------------------------------------------------- the supernet
def test_shapes_cells_and_edges() -> None:
    net = DartsSupernet(C=4, layers=8, num_classes=7, seed=0)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True, False, False]
    assert all(len(c.edges) == 14 for c in net.cells)
    assert [a.shape for a in net.alphas()] == [(14, 8), (14, 8)]
    assert net.arch_parameter_list() == net.alphas()
    pc = DartsSupernet(C=8, layers=3, algo="pc-darts", seed=0)
    assert [p.shape for p in pc.arch_parameter_list()] == [(14, 8), (14, 8), (14,), (14,)]
    # K = 4: the operations see C / 4 channels
    assert pc.cells[0].edges[0].ops[OPS["sep_conv_3x3"]].op[1].weight.shape == (2, 1, 3, 3)
    # beta starts at 1e-3 N(0, 1), not 0
    assert 0 < float(pc.beta_normal.detach().abs().max()) < 0.01
    assert [edge_index(i, j) for i in range(4) for j in range(2 + i)] == list(range(14))
    assert node_edges(4) == [(0, 2), (2, 5), (5, 9), (9, 14)]


@pytest.mark.parametrize("algo,kwargs", [("darts", {}), ("pc-darts", {"K": 2}), ("pc-darts", {"K": 1})])
def test_fused_forward_equals_dartss_mixed_op_in_float64(algo: str, kwargs: dict) -> None:
    nets = [
        DartsSupernet(
            C=4, layers=3, algo=algo, seed=0, reference=ref, channels_last=not ref, **kwargs
        ).double()
        for ref in (False, True)
    ]
    for net in nets:
        _random_alphas(net)
    x, y = _batch()
    out = []
    for net in nets:
        loss = F.cross_entropy(net(x), y)
        out.append((loss, torch.autograd.grad(loss, list(net.parameters()))))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(out[0][1], out[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_dropped_operations_get_weight_zero_and_are_not_computed() -> None:
    net = DartsSupernet(C=4, layers=3, seed=0).double()
    ref = DartsSupernet(C=4, layers=3, seed=0, reference=True).double()
    mask = torch.ones(2, 14, 8, dtype=torch.bool)
    mask[:, :, [OPS["sep_conv_5x5"], OPS["max_pool_3x3"], OPS["none"]]] = False
    mask[0, 3, OPS["dil_conv_5x5"]] = False
    for n in (net, ref):
        n.op_mask.copy_(mask)
    with torch.no_grad():
        wn, _ = net.mixing_weights()
    assert float(wn[:, OPS["sep_conv_5x5"]].abs().max()) == 0.0
    torch.testing.assert_close(wn.sum(1), torch.ones(14, dtype=torch.float64))
    x, _y = _batch()
    torch.testing.assert_close(net(x), ref(x), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- genotypes
def test_genotype_derivation_on_hand_set_weights() -> None:
    w = np.full((14, 8), 0.01)
    # node 0 (edges 0, 1): both kept; sep_conv_3x3 on 0, skip on 1 (none is ignored even if largest)
    w[0, OPS["sep_conv_3x3"]] = 0.5
    w[1, OPS["none"]] = 0.9
    w[1, OPS["skip_connect"]] = 0.3
    # node 1 (edges 2, 3, 4): the strongest non-none are edge 4 (0.7) and edge 2 (0.6)
    w[2, OPS["dil_conv_3x3"]] = 0.6
    w[3, OPS["none"]] = 0.99
    w[4, OPS["max_pool_3x3"]] = 0.7
    # node 2 (edges 5..8) and node 3 (edges 9..13)
    w[6, OPS["avg_pool_3x3"]], w[8, OPS["sep_conv_5x5"]] = 0.4, 0.45
    w[9, OPS["dil_conv_5x5"]], w[13, OPS["skip_connect"]] = 0.2, 0.25
    g = derive_genotype(w, w)
    assert g.normal == (
        ("sep_conv_3x3", 0), ("skip_connect", 1),
        ("max_pool_3x3", 2), ("dil_conv_3x3", 0),
        ("sep_conv_5x5", 3), ("avg_pool_3x3", 1),
        ("skip_connect", 4), ("dil_conv_5x5", 0),
    )  # fmt: skip
    assert g == DartsGenotype.parse(str(g)) and g.count("skip_connect") == 2
    # PC-DARTS: an edge weight moves an edge down the ranking
    s = np.ones(14)
    s[4] = 0.1
    assert derive_genotype(w, w, edge_weights=(s, s)).normal[2:4] == (
        ("dil_conv_3x3", 0),
        ("max_pool_3x3", 2),
    )


def test_edge_softmax_is_a_plain_softmax_per_node() -> None:
    beta = torch.tensor([0.0, math.log(3.0), 1.0, 1.0, 1.0, *([0.0] * 9)])
    s = edge_softmax(beta)
    torch.testing.assert_close(s[:2], torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(s[2:5], torch.full((3,), 1 / 3))
    for a, b in node_edges(4):
        assert float(s[a:b].sum()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- P-DARTS
def test_pdarts_drops_the_weakest_operations_on_hand_set_weights() -> None:
    w = np.tile(np.arange(8, dtype=float) / 28, (14, 1))  # weight grows with the op index
    mask = np.ones((14, 8), dtype=bool)
    kept = drop_operations(w, mask, 3)
    assert kept.sum(1).tolist() == [5] * 14 and not kept[:, :3].any()
    w2 = w.copy()
    w2[0] = w2[0][::-1]  # edge 0: the first ops are the strongest
    kept = drop_operations(w2, mask, 3)
    assert kept[0].tolist() == [True] * 5 + [False] * 3
    # the last stage drops `none` first, then the weakest
    three = np.zeros((14, 8), dtype=bool)
    three[:, [OPS["none"], OPS["skip_connect"], OPS["sep_conv_3x3"]]] = True
    probs = np.zeros((14, 8))
    probs[:, OPS["none"]], probs[:, OPS["skip_connect"]], probs[:, OPS["sep_conv_3x3"]] = 0.8, 0.05, 0.15
    last = drop_operations(probs, three, 2, last=True)
    assert (np.flatnonzero(last[0]) == [OPS["sep_conv_3x3"]]).all() and last.sum() == 14


def test_pdarts_limits_the_normal_cell_to_two_skip_connections() -> None:
    probs = np.zeros((14, 8))
    probs[:, OPS["skip_connect"]] = np.linspace(0.9, 0.5, 14)  # skip wins every edge
    probs[:, OPS["sep_conv_3x3"]] = 0.3
    g = pdarts_genotype(probs, probs, max_skip=2)
    assert g.count("skip_connect") == 2 and g.count("skip_connect", "reduce") == 8
    # the two strongest skips survive: edges 0 and 1 (node 0)
    assert g.normal[:2] == (("skip_connect", 0), ("skip_connect", 1))
    assert pdarts_genotype(probs, probs, max_skip=8).count("skip_connect") == 8


def test_skip_dropout_schedule() -> None:
    assert skip_dropout_rate(0, 25, 0.4, 10) == pytest.approx(0.4 * 24 / 25)
    assert skip_dropout_rate(10, 25, 0.4, 10) == pytest.approx(0.4)
    assert skip_dropout_rate(15, 25, 0.4, 10) == pytest.approx(0.4 * math.exp(-1.0))


# ----------------------------------------------------------------------------- the algorithms
def _data(n: int = 32, size: int = 8):
    x, y = _batch(n, size, dtype=torch.float32)
    return IndexedDataset(TensorDataset(x, y)), y.numpy()


def _loaders(ds, batch_size: int = 16):
    return DataLoader(ds, batch_size=batch_size), DataLoader(ds, batch_size=batch_size)


def test_one_architecture_step_changes_only_the_architecture() -> None:
    net = make_supernet("darts-v1", C=4, N=3, space="darts", seed=0)
    opt = torch.optim.Adam(net.arch_parameter_list(), lr=0.1)
    weights = [p.detach().clone() for p in net.weight_parameters()]
    alphas = [a.detach().clone() for a in net.alphas()]
    x, y = _batch(dtype=torch.float32)
    FirstOrderArchStep(net, opt).update(x, y, x, y, 0.025)
    assert all(torch.equal(p, w) for p, w in zip(net.weight_parameters(), weights))
    assert all(not torch.equal(a, b) for a, b in zip(net.alphas(), alphas))


def test_weight_steps_change_only_the_weights() -> None:
    ds, _ = _data()
    net = make_supernet("darts-v1", C=4, N=3, space="darts", seed=0)
    weights = [p.detach().clone() for p in net.weight_parameters()]
    alphas = [a.detach().clone() for a in net.alphas()]
    # one epoch of architecture warm-up: weight steps only
    search(net, *_loaders(ds), algo="darts-v1", epochs=1, arch_warmup_epochs=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(net.alphas(), alphas))
    assert any(not torch.equal(p, w) for p, w in zip(net.weight_parameters(), weights))


def test_pc_darts_with_k1_and_no_edge_normalisation_is_darts_v1() -> None:
    ds, _ = _data()
    runs = []
    for algo, kw in (("darts-v1", {}), ("pc-darts", {"K": 1, "edge_norm": False})):
        net = make_supernet(algo, C=4, N=3, space="darts", seed=0, **kw)
        res = search(net, *_loaders(ds), algo=algo, epochs=1, seed=0, progress=False)
        runs.append((res, [p.detach() for p in net.parameters()]))
    (a, pa), (b, pb) = runs
    assert a.val_loss == b.val_loss and a.train_loss == b.train_loss and a.genotype == b.genotype
    np.testing.assert_array_equal(a.alphas, b.alphas)
    assert all(torch.equal(p, q) for p, q in zip(pa, pb))


def test_gdas_samples_one_operation_per_edge_from_the_generator() -> None:
    net = DartsSupernet(C=4, layers=3, algo="gdas", seed=0)
    (hn, idx), _ = net.gumbel_weights(torch.Generator().manual_seed(0))
    (hn2, idx2), _ = net.gumbel_weights(torch.Generator().manual_seed(0))
    assert idx == idx2 and torch.equal(hn, hn2)
    torch.testing.assert_close(hn.detach().sum(1), torch.ones(14))
    assert (hn.detach().max(1).values == 1).all()


def test_argument_errors() -> None:
    ds, _ = _data()
    net = make_supernet("darts-v1", C=4, N=3, space="darts", seed=0)
    with pytest.raises(ProxydataValueError, match="enas"):
        search(net, *_loaders(ds), algo="enas", epochs=1, progress=False)
    with pytest.raises(ProxydataValueError, match="space='nb201'"):
        search(net, *_loaders(ds), algo="darts-v1", epochs=1, space="nb201", progress=False)
    with pytest.raises(ProxydataValueError, match="skip_dropout"):
        search(net, *_loaders(ds), algo="darts-v1", epochs=1, skip_dropout=0.2, progress=False)
    with pytest.raises(ProxydataValueError, match="one group"):
        search(net, *_loaders(ds), algo="darts-v1", epochs=1, hessian_batch=_batch(4, dtype=torch.float32))
    with pytest.raises(ProxydataValueError, match="algo"):
        DartsSupernet(algo="enas")


# ----------------------------------------------------------------------------- wired in, CI scale
@pytest.mark.parametrize("algo", DARTS_SPACE_ALGORITHMS)
def test_every_algorithm_with_the_pruner_and_with_a_static_proxy(algo: str) -> None:
    ds, _y = _data(48)
    base = dict(algo=algo, epochs=3, C=4, N=3, batch_size=8, progress=False, space="darts")
    train, val = np.arange(24), np.arange(24, 48)
    halves = {"interval": 2, "train_prune_ratio": 0.5, "val_prune_ratio": 0.5}
    bdp = run_search(ds.dataset, train, val, SearchConfig(**base, bdp=True, bdp_kwargs=halves))
    assert bdp.result.train_sizes == [24, 24, 12] and bdp.final_train == 12
    DartsGenotype.parse(bdp.result.genotype)
    assert bdp.result.alphas.shape == (2, 14, 8)
    proxied = run_search(ds.dataset, train, val, SearchConfig(**base, proxy="rs", ratio=0.5))
    assert proxied.kept_train == 12 and proxied.result.train_sizes == [12, 12, 12]
    if algo == "p-darts":
        assert len(proxied.result.skip_dropouts) == 3


def test_pdarts_search_runs_three_stages_with_the_pruner() -> None:
    ds, y = _data(32)
    tr, va = np.arange(16), np.arange(16, 32)
    pruner = BiLevelPruner(y, tr, va, epochs=6, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25)
    train = DataLoader(ds, batch_size=8, sampler=pruner.train_sampler)
    # one validation batch per epoch: the search pairs one with each training batch, so a
    # validation split kept larger than the training split (class-balance limit) is still covered
    val = DataLoader(ds, batch_size=16, sampler=pruner.val_sampler)
    res = pdarts_search(train, val, C=4, layers=(3, 4, 5), epochs=2, warmup=1, pruner=pruner, progress=False)
    assert [m.sum(2).max() for m in res.masks] == [8, 5, 3]
    g = DartsGenotype.parse(res.genotype)
    assert g.count("skip_connect") <= 2
    assert [len(s.genotypes) for s in res.stages] == [2, 2, 2]


def test_pdarts_arch_step_clips_the_architecture_gradient_as_the_authors_code() -> None:
    """P-DARTS clips the architecture gradient to norm ``grad_clip`` before Adam (DARTS does not).

    With plain SGD at learning rate 1 the step is minus the clipped gradient, so the
    parameters move by exactly ``grad_clip`` in norm when the raw gradient is larger.
    """
    from proxydata.nas.darts import PDartsArchStep

    x, y = _batch(4)
    moved = {}
    for clip in (0.0, 1e-4):
        net = DartsSupernet(C=4, layers=3, seed=0).double()
        before = [p.detach().clone() for p in net.arch_parameter_list()]
        opt = torch.optim.SGD(net.arch_parameter_list(), lr=1.0)
        PDartsArchStep(net, opt, rate=0.0, warmup=0, grad_clip=clip).update(x, y, x, y, 0.0)
        moved[clip] = math.sqrt(
            sum(float(((p.detach() - b) ** 2).sum()) for p, b in zip(net.arch_parameter_list(), before))
        )
    assert moved[0.0] > 1e-3  # the raw gradient is far above the clip
    assert moved[1e-4] == pytest.approx(1e-4, rel=1e-4)  # torch divides by (norm + 1e-6)
    with pytest.raises(ProxydataValueError, match="grad_clip"):
        PDartsArchStep(net, opt, rate=0.0, warmup=0, grad_clip=-1.0)


def test_pdarts_search_uses_the_authors_optimiser_settings_unless_told_otherwise() -> None:
    from proxydata.nas.pdarts import PDARTS_OPTIMISERS

    assert PDARTS_OPTIMISERS["a_lr"] == 6e-4 and PDARTS_OPTIMISERS["w_lr_min"] == 0.0
    assert PDARTS_OPTIMISERS["grad_clip"] == 5.0
    ds, _y = _data(16)
    loader = DataLoader(ds, batch_size=8)
    seen = []

    def record(**kw) -> None:
        seen.append(kw)

    import proxydata.nas.pdarts as pdarts

    real = pdarts.search
    try:
        pdarts.search = lambda *a, **kw: (record(**kw), real(*a, **kw))[1]
        pdarts_search(loader, loader, C=4, layers=(3, 3, 3), epochs=1, warmup=0, progress=False, a_lr=1e-3)
    finally:
        pdarts.search = real
    assert len(seen) == 3
    assert all(kw["a_lr"] == 1e-3 and kw["w_lr_min"] == 0.0 and kw["grad_clip"] == 5.0 for kw in seen)
