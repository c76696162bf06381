"""proxydata.nas.spaces.mobilenet: the chain of BDP's Table 6, its counts, JSON form and supernet."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas.counting import count_parameters
from proxydata.nas.spaces.mobilenet import (
    MOBILENET_OPS,
    MBConv,
    MixedLayer,
    MobileNetArch,
    MobileNetNetwork,
    MobileNetSpace,
    MobileNetSupernet,
    make_divisible,
)

IMAGENET = MobileNetSpace()
TINY = MobileNetSpace(num_classes=10, input_size=16, stem_stride=1, width_mult=0.25)
MB_OPS = MOBILENET_OPS[:-1]


def _random_arch(seed: int, space: MobileNetSpace = IMAGENET) -> MobileNetArch:
    g = torch.Generator().manual_seed(seed)
    ops = []
    for spec in space.layers():
        choices = spec.ops
        ops.append(choices[int(torch.randint(len(choices), (1,), generator=g))])
    return MobileNetArch(tuple(ops))


# -- the skeleton -----------------------------------------------------------------------------------


def test_skeleton_at_multiplier_one_is_the_papers():
    layers = IMAGENET.layers()
    assert len(layers) == 21
    assert [s.out_channels for s in layers] == [24] * 4 + [40] * 4 + [80] * 4 + [96] * 4 + [192] * 4 + [320]
    firsts = [s for s in layers if s.index in (0, 4, 8, 12, 16, 20)]
    assert [s.stride for s in firsts] == [2, 2, 2, 1, 2, 1]
    assert all(s.stride == 1 for s in layers if s not in firsts)
    assert (IMAGENET.stem_channels, IMAGENET.first_channels, IMAGENET.last_channels) == (32, 16, 1280)
    # skip everywhere but a stage's first layer: 15 layers
    assert [s.skip_allowed for s in layers] == [s not in firsts for s in layers]
    assert IMAGENET.feature_sizes() == [112] + [56] * 4 + [28] * 4 + [14] * 8 + [7] * 5


@settings(max_examples=12, deadline=None)
@given(width=st.sampled_from([0.25, 0.35, 0.5, 0.75, 1.0, 1.4]), stem_stride=st.sampled_from([1, 2]))
def test_skip_offered_exactly_where_shapes_match(width, stem_stride):
    space = MobileNetSpace(num_classes=10, input_size=16, stem_stride=stem_stride, width_mult=width)
    size = space.feature_sizes()[0]
    for spec in space.layers():
        block = MBConv(spec.in_channels, spec.out_channels, 3, 3, spec.stride).eval()
        x = torch.zeros(1, spec.in_channels, size, size)
        with torch.no_grad():
            out = block(x)
        assert spec.skip_allowed == (out.shape == x.shape)
        assert ("skip" in spec.ops) == spec.skip_allowed
        assert block.residual == spec.skip_allowed
        size = out.shape[-1]


def test_make_divisible_hand_values():
    assert [make_divisible(v) for v in (6, 10, 20, 24, 33.6, 48)] == [8, 16, 24, 24, 32, 48]
    assert make_divisible(1280 * 1.4) == 1792
    with pytest.raises(ProxydataValueError, match="value"):
        make_divisible(0)


def test_space_arguments_are_checked_by_name():
    with pytest.raises(ProxydataValueError, match="width_mult"):
        MobileNetSpace(width_mult=0)
    with pytest.raises(ProxydataValueError, match="stem_stride"):
        MobileNetSpace(stem_stride=3)
    with pytest.raises(ProxydataTypeError, match="num_classes"):
        MobileNetSpace(num_classes=10.0)
    with pytest.raises(ProxydataValueError, match="not both"):
        MobileNetNetwork(MobileNetArch.uniform("mb_k3_e3"), IMAGENET, num_classes=10)


def test_mbconv_is_proxylessnas_inverted_bottleneck():
    block = MBConv(24, 24, 5, 6, 1)
    convs = [m for m in block.body if isinstance(m, nn.Conv2d)]
    kinds = [type(m).__name__ for m in block.body]
    assert kinds == [
        "Conv2d",
        "BatchNorm2d",
        "ReLU6",
        "Conv2d",
        "BatchNorm2d",
        "ReLU6",
        "Conv2d",
        "BatchNorm2d",
    ]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.groups) for c in convs] == [
        (24, 144, (1, 1), 1),
        (144, 144, (5, 5), 144),
        (144, 24, (1, 1), 1),
    ]
    assert all(c.bias is None for c in convs) and block.residual
    x = torch.randn(2, 24, 6, 6)
    block.eval()
    assert torch.allclose(block(x), x + block.body(x))
    first = MBConv(32, 16, 3, 1)  # expansion 1: no expand convolution, no residual
    assert sum(isinstance(m, nn.Conv2d) for m in first.body) == 2 and not first.residual


# -- counts: ours against a hand count from the layer formulas and against torch's FlopCounterMode -----


def _hand_count(arch: MobileNetArch, space: MobileNetSpace) -> tuple[int, int]:
    """Multiply-adds and parameters from the formulas (conv: H_out·W_out·C_out·C_in/g·k²; BN: 2·C)."""
    macs = params = 0
    h = math.ceil(space.input_size / space.stem_stride)
    c0 = space.stem_channels
    macs += h * h * c0 * space.in_channels * 9
    params += c0 * space.in_channels * 9 + 2 * c0

    def mb(c_in: int, c_out: int, k: int, e: int, s: int, h: int) -> tuple[int, int, int]:
        hid, ho = c_in * e, math.ceil(h / s)
        m = p = 0
        if e > 1:
            m += h * h * hid * c_in
            p += c_in * hid + 2 * hid
        m += ho * ho * hid * k * k + ho * ho * c_out * hid
        p += hid * k * k + 2 * hid + hid * c_out + 2 * c_out
        return m, p, ho

    m, p, h = mb(c0, space.first_channels, 3, 1, 1, h)
    macs, params = macs + m, params + p
    for spec, op in zip(space.layers(), arch.ops):
        if op == "skip":
            continue
        k, e = int(op[4]), int(op[7])
        m, p, h = mb(spec.in_channels, spec.out_channels, k, e, spec.stride, h)
        macs, params = macs + m, params + p
    c_last, last = space.layers()[-1].out_channels, space.last_channels
    macs += h * h * c_last * last + last * space.num_classes
    params += c_last * last + 2 * last + last * space.num_classes + space.num_classes
    return macs, params


ARCHS = {
    "all k3 e3": MobileNetArch.uniform("mb_k3_e3"),
    "all k7 e6": MobileNetArch.uniform("mb_k7_e6"),
    "every skip": MobileNetArch.uniform("skip"),
    "random 0": _random_arch(0),
    "random 1": _random_arch(1),
}


@pytest.mark.parametrize("name", list(ARCHS))
def test_counts_equal_hand_count_and_torch_flop_counter_at_224(name):
    arch = ARCHS[name]
    net = MobileNetNetwork(arch, IMAGENET, seed=0)
    hand_macs, hand_params = _hand_count(arch, IMAGENET)
    cost = net.cost()
    assert cost["params"] == count_parameters(net) == hand_params
    assert abs(cost["flops"] - hand_macs) <= 0.01 * hand_macs
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = net(torch.zeros(1, 3, 224, 224))
    # torch counts a multiply-add as 2 FLOPs (and the classifier's bias not at all)
    assert abs(counter.get_total_flops() / 2 - cost["flops"]) <= 0.01 * cost["flops"]
    assert out.shape == (1, 1000)


def test_counts_land_in_table_6_range():
    """Table 6's MobileNet-space rows report 219–597 M multiply-adds and 4.2–5.5 M parameters."""
    cheap = MobileNetNetwork(ARCHS["all k3 e3"], IMAGENET).cost()
    big = MobileNetNetwork(ARCHS["all k7 e6"], IMAGENET).cost()
    assert 150e6 < cheap["flops"] < 400e6 and big["flops"] > 500e6
    assert 2e6 < cheap["params"] < 5e6 and big["params"] > 5e6


def test_forward_on_imagenet_sized_input():
    net = MobileNetNetwork(ARCHS["random 0"], seed=0)
    net.train()
    out = net(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()


def test_count_flops_at_cifar_scale():
    arch = _random_arch(3, TINY)
    net = MobileNetNetwork(arch, TINY)
    hand_macs, hand_params = _hand_count(arch, TINY)
    assert net.cost() == {"flops": hand_macs, "params": hand_params}
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


# -- the architecture: derivation, text and JSON forms ---------------------------------------------


def test_hand_set_weights_derive_the_expected_architecture():
    net = MobileNetSupernet(TINY, seed=0)
    alpha = torch.zeros(21, 7)
    expected = []
    for spec in TINY.layers():
        want = MOBILENET_OPS[(spec.index * 5) % 7]
        if want == "skip" and not spec.skip_allowed:
            want = "mb_k5_e3"
        expected.append(want)
        alpha[spec.index, MOBILENET_OPS.index(want)] = 1.0
        if not spec.skip_allowed:
            alpha[spec.index, -1] = 5.0  # skip is not offered: ignored however large
    net.set_arch(alpha)
    assert net.genotype() == MobileNetArch(tuple(expected))
    assert torch.isinf(net.alphas()[0][~net.offered]).all()
    weights = net.arch_weights()
    assert float(weights[~net.offered].abs().max()) == 0.0
    assert torch.allclose(weights.sum(1), torch.ones(21, dtype=torch.float64))


def test_json_round_trip_builds_the_same_network():
    arch = ARCHS["random 1"]
    text = arch.to_json(indent=1)
    data = json.loads(text)
    assert data["space"] == "mobilenet" and data["layers"][5] == {"layer": 5, "op": arch.ops[5]}
    back = MobileNetArch.from_json(text, IMAGENET)
    assert back == arch and MobileNetArch.parse(str(arch)) == arch
    a, b = MobileNetNetwork(arch, TINY, seed=0), MobileNetNetwork(back, TINY, seed=0)
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [
        (k, v.shape) for k, v in b.state_dict().items()
    ]
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 16, 16)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))
    assert MobileNetNetwork(text, TINY).arch == arch  # JSON text is accepted directly


@pytest.mark.parametrize(
    ("edit", "exc", "field"),
    [
        (lambda d: d["layers"][5].update(op="mb_k9_e6"), ProxydataValueError, r"layers\[5\]\.op"),
        (lambda d: d["layers"][3].update(layer=4), ProxydataValueError, r"layers\[3\]\.layer"),
        (lambda d: d["layers"][0].update(op="skip"), ProxydataValueError, r"layers\[0\]\.op is 'skip'"),
        (lambda d: d["layers"].pop(), ProxydataValueError, "21 entries"),
        (lambda d: d.update(space="darts"), ProxydataValueError, "space"),
        (lambda d: d.update(extra=1), ProxydataValueError, "extra"),
        (lambda d: d["layers"].__setitem__(2, "skip"), ProxydataValueError, r"layers\[2\]"),
        (lambda d: d.update(layers="skip"), ProxydataTypeError, "layers"),
    ],
)
def test_json_errors_name_the_bad_field(edit, exc, field):
    data = ARCHS["all k3 e3"].to_dict()
    edit(data)
    with pytest.raises(exc, match=field):
        MobileNetArch.from_json(json.dumps(data), IMAGENET)


def test_skip_where_not_offered_is_refused_by_the_network():
    ops = list(ARCHS["all k3 e3"].ops)
    ops[4] = "skip"
    with pytest.raises(ProxydataValueError, match=r"layers\[4\]\.op"):
        MobileNetNetwork(ops, IMAGENET)
    with pytest.raises(ProxydataValueError, match=r"ops\[2\]"):
        MobileNetArch(("mb_k3_e3", "mb_k3_e3", "conv") + ("skip",) * 18)


# -- the supernet -------------------------------------------------------------------------------------


def test_mixed_layer_is_the_weighted_sum_of_candidates_with_residual_blocks():
    spec = TINY.layers()[1]
    assert spec.skip_allowed
    layer = MixedLayer(spec)
    x = torch.randn(4, spec.in_channels, 8, 8)
    w = torch.softmax(torch.randn(7, generator=torch.Generator().manual_seed(0)), 0)
    blocks = [
        MBConv(spec.in_channels, spec.out_channels, k, e, 1, affine=False)
        for k, e in ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
    ]
    for blk, cand in zip(blocks, layer.candidates):
        blk.load_state_dict(cand.state_dict())
    # the derived block of each candidate has its residual; skip is the identity
    expected = sum(w[k] * blocks[k](x) for k in range(6)) + w[6] * x
    assert torch.allclose(layer(x, w), expected, atol=1e-5)


def test_supernet_interface_and_seeded_init():
    state = torch.random.get_rng_state()
    a, b = MobileNetSupernet(TINY, seed=3), MobileNetSupernet(TINY, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.arch_parameter_list() == [a.arch_logits]
    names = [n for n, _ in a.named_weight_parameters()]
    assert "arch_logits" not in names and len(names) == len(a.weight_parameters())
    assert len(names) + 1 == len(list(a.parameters()))
    (alpha,) = a.alphas()
    assert alpha.shape == (21, 7) and alpha.requires_grad
    assert int(torch.isinf(alpha).sum()) == 21 - sum(TINY.skip_mask())
    x = torch.randn(2, 3, 16, 16)
    assert a(x).shape == (2, 10)
    derived = a.derive(seed=0)
    assert isinstance(derived, MobileNetNetwork) and derived.arch == a.genotype()


def test_arch_and_weight_steps_change_only_their_own_parameters():
    from proxydata.nas.darts import FirstOrderArchStep

    net = MobileNetSupernet(TINY, seed=0)
    a_opt = torch.optim.Adam(net.arch_parameter_list(), lr=0.1, betas=(0.5, 0.999), weight_decay=1e-3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    step = FirstOrderArchStep(net, a_opt)
    step.update(x, y, x, y, 0.1)
    changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"arch_logits"}
    # entries not offered never move (no gradient; weight decay of 0)
    assert torch.equal(net.arch_logits[~net.offered], before["arch_logits"][~net.offered])
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    w_opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    net.arch_logits.grad = None
    w_opt.step()
    changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert "arch_logits" not in changed and len(changed) > 0.9 * len(before)


# -- a real (tiny) search with the pruner: DARTS-V1 and β-DARTS through proxydata.nas.search ---------


@pytest.mark.parametrize("algo", ["darts-v1", "beta-darts"])
def test_tiny_search_with_bilevel_pruner(algo):
    from torch.utils.data import DataLoader, TensorDataset

    from proxydata import BiLevelPruner, IndexedDataset
    from proxydata.nas import search

    g = torch.Generator().manual_seed(0)
    n = 64
    x = torch.randn(n, 3, 16, 16, generator=g)
    y = torch.arange(n) % 4
    x += y.view(-1, 1, 1, 1).float() * 0.5  # a learnable signal
    data = IndexedDataset(TensorDataset(x, y))
    train_idx, val_idx = list(range(0, n, 2)), list(range(1, n, 2))
    pruner = BiLevelPruner(
        y, train_idx, val_idx, epochs=3, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25, seed=0
    )
    space = MobileNetSpace(num_classes=4, input_size=16, stem_stride=2, width_mult=0.25)
    net = MobileNetSupernet(space, seed=0)
    start = net.arch_logits.detach().clone()
    train = DataLoader(data, batch_size=16, sampler=pruner.train_sampler)
    val = DataLoader(data, batch_size=16, sampler=pruner.val_sampler)
    result = search(net, train, val, algo=algo, epochs=3, pruner=pruner, seed=0, progress=False)
    assert result.epochs == 3
    assert result.train_set_sizes == [32, 32, 24] and result.val_set_sizes == [32, 32, 24]
    assert sum(result.train_sizes) == 32 + 32 + 24
    assert MobileNetArch.parse(result.genotype) == net.genotype()
    alphas = np.asarray(result.alphas)
    assert alphas.shape == (21, 7) and np.isinf(alphas).sum() == 21 - sum(space.skip_mask())
    assert not torch.equal(net.arch_logits.detach(), start)
    assert torch.equal(net.arch_logits.detach()[~net.offered], start[~net.offered])
    if algo == "beta-darts":
        assert len(result.beta_weights) == 3


# -- the benchmark scripts: the GPU script's CPU smoke mode, the results-page section -----------------


def _bench(name: str):
    import importlib
    import sys
    from pathlib import Path

    bench = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module(name)


def test_gpu_script_smoke_mode_on_a_generated_image_folder(tmp_path):
    gpu = _bench("gpu_mobilenet_space")
    out = tmp_path / "gpu.jsonl"
    assert gpu.main(["--smoke", "--out", str(out)]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["status"] == "ok" and record["ran"]["steps"] == 2 and record["ran"]["smoke"]
    assert record["settings"]["batch_size"] == 640 and record["settings"]["epochs"] == 30
    assert record["settings"]["fraction"] == 0.125 and record["settings"]["train_share"] == 0.8
    assert record["train_size"] + record["val_size"] == 36 and record["seconds_per_step"] > 0
    assert len(MobileNetArch.parse(record["genotype"]).ops) == 21
    assert "git" in record["environment"]


def test_results_section_reads_records_and_states_its_rule(tmp_path):
    section = _bench("report.mobilenet")
    assert section.mobilenet_section(tmp_path / "none.jsonl") == []
    arch = MobileNetArch.uniform("skip", TINY)
    base = {
        "algo": "darts-v1", "config": {"train_size": 5000, "val_size": 5000, "epochs": 5, "batch_size": 64},
        "space": TINY.to_dict(), "skip_offered": 16, "cost_run_scale": {"flops": 1e6, "params": 2e5},
        "cost_imagenet": {"flops": 3e8, "params": 4e6}, "samples": 50000, "cpu_seconds": 700.0,
        "genotype": str(arch), "skips_per_epoch": [0, 8], "final_train": None, "final_val": None, "bdp": None,
    }  # fmt: skip
    bdp = {"interval": 2, "train_prune_ratio": 0.48}
    records = [
        {**base, "method": "darts", "seed": 0, "num_skips": 16},
        {**base, "method": "bdp", "seed": 0, "num_skips": 2, "samples": 25000, "cpu_seconds": 350.0,
         "final_train": 200, "final_val": 200, "bdp": bdp},
    ]  # fmt: skip
    path = tmp_path / "mobilenet_space.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    text = "\n".join(section.mobilenet_section(path))
    assert "CPU-scale runs, not the paper's setting" in text
    assert text.index("Rule (stated before the numbers)") < text.index("| method |")
    assert "**reproduced at this scale**: 1 of 1 DARTS runs and 0 of 1" in text
    assert "processed 50% of DARTS's samples in 50% of its CPU time" in text
    records[1]["num_skips"] = 9  # a collapsed BDP run: the rule fails
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert "**not reproduced at this scale**" in "\n".join(section.mobilenet_section(path))


def test_registered_as_a_space_of_search_and_make_supernet():
    from torch.utils.data import DataLoader, TensorDataset

    from proxydata.nas import make_supernet, search
    from proxydata.nas.search_options import SPACE_ALGORITHMS

    assert SPACE_ALGORITHMS["mobilenet"] == ("darts-v1", "beta-darts")
    net = make_supernet("darts-v1", num_classes=4, space="mobilenet", input_size=16, width_mult=0.25, seed=0)
    assert isinstance(net, MobileNetSupernet) and net.space == "mobilenet"
    assert net.space_config == MobileNetSpace(num_classes=4, input_size=16, width_mult=0.25)
    with pytest.raises(ProxydataValueError, match="algo"):
        make_supernet("gdas", space="mobilenet")
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.randn(16, 3, 16, 16, generator=g), torch.arange(16) % 4)
    loader = DataLoader(data, batch_size=8)
    with pytest.raises(ProxydataValueError, match="does not run on the 'mobilenet' space"):
        search(net, loader, loader, algo="gdas", epochs=1, progress=False)
    with pytest.raises(ProxydataValueError, match="space='darts'"):
        search(net, loader, loader, algo="darts-v1", epochs=1, space="darts", progress=False)
    result = search(net, loader, loader, algo="darts-v1", epochs=1, space="mobilenet", progress=False)
    assert result.train_sizes == [16] and len(MobileNetArch.parse(result.genotype).ops) == 21
