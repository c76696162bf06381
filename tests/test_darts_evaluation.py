"""DARTS evaluation networks: published sizes, shapes, drop path, auxiliary head, API."""

from __future__ import annotations

import pytest
import torch

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas.counting import count_flops, count_parameters
from proxydata.nas.spaces.darts import (
    GENOTYPES,
    DartsGenotype,
    EvaluationCell,
    NetworkCIFAR,
    NetworkImageNet,
    drop_path,
    reduction_layers,
)

# Published sizes (millions) and where they are printed. CIFAR-10: NetworkCIFAR(C=36, layers=20);
# ImageNet: NetworkImageNet(C=48, layers=14) at 224 px (the CIFAR-searched cell transferred).
PUBLISHED = {
    # DARTS paper (Liu et al., 2019), Tables 1 and 3; PC-DARTS README; BDP Table 5 (DARTS 2nd: 3.3)
    ("DARTS_V2", "cifar_params"): 3.3,
    ("DARTS_V2", "imagenet_params"): 4.7,
    # PC-DARTS paper Table 1 / README; BDP Table 5
    ("PC_DARTS", "cifar_params"): 3.6,
    # PC-DARTS paper Table 3, "PC-DARTS (CIFAR10)" transferred to ImageNet: 5.3 M, 586 M
    ("PC_DARTS", "imagenet_params"): 5.3,
    ("PC_DARTS", "imagenet_madds"): 586.0,
    # P-DARTS paper Tables 1 and 3: 3.4 M on CIFAR-10; 4.9 M, 557 M on ImageNet; BDP Table 5: 3.4
    ("PDARTS", "cifar_params"): 3.4,
    ("PDARTS", "imagenet_params"): 4.9,
    ("PDARTS", "imagenet_madds"): 557.0,
}

# Published figures our count does NOT reproduce within 3 %, with the gap asserted so that a
# change shows: DARTS-V2's 574 M mult-adds (DARTS paper Table 3) — counting the convolutions and
# the classifier gives 530 M, as others found (quark0/darts issue #46: 523 M); DARTS-V1's 3.3 M
# (DARTS paper Table 1; BDP Table 5 prints 3.4 M) — the repository's DARTS_V1 cell gives 3.17 M.
KNOWN_GAPS = {
    ("DARTS_V2", "imagenet_madds"): (574.0, -0.09, -0.06),
    ("DARTS_V1", "cifar_params"): (3.3, -0.05, -0.03),
}

# Our counts, exact (regression numbers; for the combinations without a published figure —
# DARTS-V1 on ImageNet, every cell's CIFAR mult-adds — these are the only check).
COUNTED = {
    "DARTS_V1": {"cifar_params": 3_169_414, "cifar_madds": 500_987_520, "imagenet_params": 4_510_432,
                 "imagenet_madds": 505_864_704},
    "DARTS_V2": {"cifar_params": 3_349_342, "cifar_madds": 528_359_040, "imagenet_params": 4_718_752,
                 "imagenet_madds": 529_911_552},
    "PC_DARTS": {"cifar_params": 3_634_678, "cifar_madds": 556_670_592, "imagenet_params": 5_270_560,
                 "imagenet_madds": 571_137_408},
    "PDARTS": {"cifar_params": 3_433_798, "cifar_madds": 532_174_464, "imagenet_params": 4_944_352,
               "imagenet_madds": 542_819_328},
}  # fmt: skip


@pytest.fixture(scope="module")
def sizes():
    out = {}
    for name in GENOTYPES:
        torch.manual_seed(0)
        cifar = NetworkCIFAR(name)  # C=36, layers=20, auxiliary=True
        imagenet = NetworkImageNet(name)  # C=48, layers=14, auxiliary=True
        out[name] = {
            "cifar_params": count_parameters(cifar),
            "cifar_madds": count_flops(cifar, (3, 32, 32)),
            "imagenet_params": count_parameters(imagenet),
            "imagenet_madds": count_flops(imagenet, (3, 224, 224)),
        }
    return out


def test_every_published_cell_matches_published_sizes_within_3_percent(sizes):
    for (name, what), published in PUBLISHED.items():
        ours = sizes[name][what] / 1e6
        assert abs(ours - published) / published <= 0.03, (name, what, ours, published)


def test_known_gaps_stay_as_documented(sizes):
    for (name, what), (published, low, high) in KNOWN_GAPS.items():
        rel = (sizes[name][what] / 1e6 - published) / published
        assert low < rel < high, (name, what, rel)


def test_counted_sizes_regression(sizes):
    assert sizes == COUNTED


def test_auxiliary_head_left_out_of_parameter_count():
    net = NetworkCIFAR("DARTS_V2", C=8, layers=5)
    aux = sum(p.numel() for p in net.auxiliary_head.parameters())
    assert aux > 0
    assert count_parameters(net, exclude=()) - count_parameters(net) == aux
    assert count_parameters(NetworkCIFAR("DARTS_V2", C=8, layers=5, auxiliary=False)) == count_parameters(net)


def test_reduction_layers_and_channels():
    assert reduction_layers(20) == (6, 13)
    assert reduction_layers(14) == (4, 9)
    net = NetworkCIFAR("DARTS_V2")
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [6, 13]
    assert net.stem[0].out_channels == 108
    assert net.classifier.in_features == 4 * 144
    assert net.auxiliary_head.features[2].in_channels == 4 * 144  # output of cell 13
    assert isinstance(net.cells[7].preprocess0, torch.nn.Module)
    assert type(net.cells[7].preprocess0).__name__ == "FactorizedReduce"
    assert type(net.cells[8].preprocess0).__name__ == "ReLUConvBN"
    inet = NetworkImageNet("DARTS_V2")
    assert type(inet.cells[0].preprocess0).__name__ == "FactorizedReduce"  # stem0 is 2× larger
    assert [i for i, c in enumerate(inet.cells) if c.reduction] == [4, 9]


def test_state_dict_keys_follow_darts_repository():
    keys = set(NetworkCIFAR("DARTS_V2", C=4, layers=3).state_dict())
    for key in (
        "stem.0.weight",
        "stem.1.running_mean",
        "cells.0.preprocess0.op.1.weight",
        "cells.0._ops.0.op.1.weight",
        "cells.2.preprocess0.conv_1.weight",
        "auxiliary_head.features.2.weight",
        "auxiliary_head.classifier.weight",
        "classifier.bias",
    ):
        assert key in keys, key
    inet = set(NetworkImageNet("DARTS_V2", C=8, layers=3).state_dict())
    assert {"stem0.0.weight", "stem0.3.weight", "stem1.1.weight", "auxiliary_head.features.5.weight"} <= inet


def test_forward_api_cifar():
    torch.manual_seed(0)
    net = NetworkCIFAR("PC_DARTS", C=4, layers=3, num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    logits, aux = net.forward_with_aux(x)
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    assert net(x).shape == (2, 7)  # forward: logits only, in training mode too
    net.eval()
    logits_eval, aux_eval = net.forward_with_aux(x)
    assert aux_eval is None
    assert torch.allclose(logits_eval, net(x))
    no_aux = NetworkCIFAR("PC_DARTS", C=4, layers=3, auxiliary=False).train()
    assert no_aux.forward_with_aux(x)[1] is None
    # 16-px images: the body works; the auxiliary head refuses with a clear message
    small = torch.randn(2, 3, 16, 16)
    assert no_aux(small).shape == (2, 10)
    with pytest.raises(ProxydataValueError, match="auxiliary=False"):
        net.train().forward_with_aux(small)


def test_forward_api_imagenet_training_mode():
    torch.manual_seed(0)
    net = NetworkImageNet("PDARTS", C=8, layers=3, num_classes=5).train()
    logits, aux = net.forward_with_aux(torch.randn(2, 3, 224, 224))
    assert logits.shape == (2, 5) and aux.shape == (2, 5)


def test_drop_path_hand_checks():
    x = torch.ones(4000, 2, 1, 1)
    assert drop_path(x, 0.0) is x
    gen = torch.Generator().manual_seed(0)
    out = drop_path(x, 0.25, gen)
    per_sample = out[:, :, 0, 0]
    # whole samples dropped or kept, kept ones scaled by 1 / 0.75
    values = per_sample.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(4 / 3)
    assert torch.equal(per_sample[:, 0], per_sample[:, 1])
    kept = float((per_sample[:, 0] > 0).double().mean())
    assert abs(kept - 0.75) < 4 * (0.75 * 0.25 / 4000) ** 0.5  # Bernoulli(0.75) within 4 sigma
    assert abs(float(out.mean()) - 1.0) < 0.03  # E[drop_path(x)] = x


def _cell(op: str, index_pairs=((0, 1), (0, 1), (0, 1), (0, 1))) -> DartsGenotype:
    pairs = [(op, i) for pair in index_pairs for i in pair]
    return DartsGenotype(pairs, range(2, 6), pairs, range(2, 6))


def test_drop_path_in_cells_spares_identity_and_eval_mode():
    torch.manual_seed(0)
    s0, s1 = torch.randn(6, 4, 8, 8), torch.randn(6, 4, 8, 8)
    skip_cell = EvaluationCell(_cell("skip_connect"), 4, 4, 4, reduction=False, reduction_prev=False).train()
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(skip_cell(s0, s1, 0.9, gen), skip_cell(s0, s1, 0.9, gen))  # identities: never dropped
    conv_cell = EvaluationCell(_cell("sep_conv_3x3"), 4, 4, 4, reduction=False, reduction_prev=False).train()
    a = conv_cell(s0, s1, 0.5, torch.Generator().manual_seed(1))
    b = conv_cell(s0, s1, 0.5, torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)
    assert torch.equal(a, conv_cell(s0, s1, 0.5, torch.Generator().manual_seed(1)))  # seeded
    conv_cell.eval()
    assert torch.equal(conv_cell(s0, s1, 0.5, torch.Generator().manual_seed(1)), conv_cell(s0, s1, 0.5))


def test_reduction_cell_halves_and_concatenates():
    cell = EvaluationCell(GENOTYPES["DARTS_V2"], 12, 12, 8, reduction=True, reduction_prev=False)
    out = cell(torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8))
    assert out.shape == (2, 4 * 8, 4, 4)
    odd = DartsGenotype(GENOTYPES["DARTS_V2"].normal, (4, 5), GENOTYPES["DARTS_V2"].reduce, (5,))
    assert EvaluationCell(odd, 3, 3, 4, False, False).multiplier == 2


def test_network_argument_errors():
    with pytest.raises(ProxydataValueError, match="C must be even for NetworkImageNet, got 7"):
        NetworkImageNet("DARTS_V2", C=7)
    with pytest.raises(ProxydataValueError, match=r"drop_path_prob must be in \[0, 1\)"):
        NetworkCIFAR("DARTS_V2", drop_path_prob=1.0)
    with pytest.raises(ProxydataValueError, match="layers must be >= 1"):
        NetworkCIFAR("DARTS_V2", layers=0)
    with pytest.raises(ProxydataTypeError, match="auxiliary must be a bool"):
        NetworkCIFAR("DARTS_V2", auxiliary=1)
    with pytest.raises(ProxydataTypeError, match="genotype must be"):
        NetworkCIFAR(42)
    with pytest.raises(ProxydataValueError, match="text must be a DARTS genotype"):
        NetworkCIFAR("DARTS_V3")
    net = NetworkCIFAR("DARTS_V2", C=4, layers=3)
    net.drop_path_prob = 0.3
    assert net.drop_path_prob == 0.3
    with pytest.raises(ProxydataValueError, match="drop_path_prob must be >= 0"):
        net.drop_path_prob = -0.1


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_cells_agree_with_xautodl(name):
    """An independent implementation of DARTS's cell (xautodl's NASNetInferCell): same sizes, shapes."""
    cells = pytest.importorskip("xautodl.models.cell_infers.cells")
    g = GENOTYPES[name]

    renamed = {"sep_conv_3x3": "dua_sepc_3x3", "sep_conv_5x5": "dua_sepc_5x5"}
    renamed.update({"dil_conv_3x3": "dil_sepc_3x3", "dil_conv_5x5": "dil_sepc_5x5"})  # xautodl's names

    def nodes(pairs):
        pairs = [(renamed.get(op, op), i) for op, i in pairs]
        return [(pairs[2 * k], pairs[2 * k + 1]) for k in range(len(pairs) // 2)]

    theirs_genotype = {
        "normal": nodes(g.normal),
        "normal_concat": list(g.normal_concat),
        "reduce": nodes(g.reduce),
        "reduce_concat": list(g.reduce_concat),
    }
    s0, s1 = torch.randn(2, 12, 8, 8), torch.randn(2, 10, 8, 8)
    for reduction, reduction_prev in [(False, False), (True, False), (False, True)]:
        x0 = torch.randn(2, 12, 16, 16) if reduction_prev else s0
        ours = EvaluationCell(g, 12, 10, 6, reduction, reduction_prev).eval()
        theirs = cells.NASNetInferCell(
            theirs_genotype, 12, 10, 6, reduction, reduction_prev, True, True
        ).eval()
        assert count_parameters(ours) == count_parameters(theirs), (reduction, reduction_prev)
        with torch.no_grad():
            assert ours(x0, s1).shape == theirs(x0, s1, 0.0).shape
