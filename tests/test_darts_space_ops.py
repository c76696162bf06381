"""The DARTS space's operations and genotypes (proxydata.nas.spaces.darts.ops / .genotypes)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas.spaces.darts import (
    DARTS_OPS,
    GENOTYPES,
    OPS,
    DartsGenotype,
    FactorizedReduce,
    Identity,
    Zero,
    as_darts_genotype,
    make_op,
)

# The repositories' own text of two published cells (DARTS_V2 as the PC-DARTS repository lists
# it, with list concatenations; P-DARTS with range and irregular spacing).
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
PDARTS_TEXT = (
    "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], "
    "normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), "
    "('dil_conv_5x5', 2), ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), "
    "('dil_conv_5x5', 3)], reduce_concat=range(2, 6))"
)


_TINY = "normal=[('none', 0), ('none', 1)], normal_concat=[2], reduce=[('none', 0), ('none', 1)]"


# -- operations --------------------------------------------------------------------------
def test_ops_order_is_darts_primitives():
    assert DARTS_OPS == (
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )
    assert tuple(OPS) == DARTS_OPS


@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes(name, stride):
    torch.manual_seed(0)
    op = make_op(name, 6, stride)
    x = torch.randn(2, 6, 8, 8)
    assert op(x).shape == (2, 6, 8 // stride, 8 // stride)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        # hand counts for C = 4, affine BN (2 parameters per channel)
        ("none", 0),
        ("max_pool_3x3", 0),
        ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 2 * (4 * 9 + 4 * 4 + 2 * 4)),  # 2 × (depthwise 36 + pointwise 16 + BN 8) = 120
        ("sep_conv_5x5", 2 * (4 * 25 + 4 * 4 + 2 * 4)),  # 2 × (100 + 16 + 8) = 248
        ("dil_conv_3x3", 4 * 9 + 4 * 4 + 2 * 4),  # 60
        ("dil_conv_5x5", 4 * 25 + 4 * 4 + 2 * 4),  # 124
    ],
)
def test_op_parameter_counts(name, params):
    assert sum(p.numel() for p in make_op(name, 4).parameters()) == params


def test_skip_connect_identity_and_factorized_reduce():
    assert isinstance(make_op("skip_connect", 4, 1), Identity)
    fr = make_op("skip_connect", 4, 2)
    assert isinstance(fr, FactorizedReduce)
    # 2 × (1×1 conv 4 → 2) + BN(4) affine = 8 + 8 + 8
    assert sum(p.numel() for p in fr.parameters()) == 24
    # no affine BN: 16
    assert sum(p.numel() for p in make_op("skip_connect", 4, 2, affine=False).parameters()) == 16


def test_factorized_reduce_samples_even_and_odd_grid():
    fr = FactorizedReduce(1, 2, affine=False).eval()
    with torch.no_grad():
        fr.conv_1.weight.fill_(1.0)
        fr.conv_2.weight.fill_(1.0)
        fr.bn.running_mean.zero_()
        fr.bn.running_var.fill_(1.0 - fr.bn.eps)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = fr(x)
    assert torch.allclose(out[0, 0], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))
    assert torch.allclose(out[0, 1], torch.tensor([[5.0, 7.0], [13.0, 15.0]]))
    # odd sizes work (the shifted half is zero-padded): ceil(5 / 2) = 3
    assert fr(torch.ones(1, 1, 5, 5)).shape == (1, 2, 3, 3)


def test_zero_with_stride_and_no_nan():
    x = torch.full((1, 2, 5, 5), float("inf"))
    assert torch.equal(Zero(1)(x), torch.zeros(1, 2, 5, 5))
    assert torch.equal(Zero(2)(x), torch.zeros(1, 2, 3, 3))


def test_avg_pool_does_not_count_padding():
    out = make_op("avg_pool_3x3", 1)(torch.ones(1, 1, 3, 3))
    assert torch.allclose(out, torch.ones(1, 1, 3, 3))


def test_sep_conv_layout_matches_darts_state_dict():
    keys = list(make_op("sep_conv_3x3", 4).state_dict())
    assert keys[:2] == ["op.1.weight", "op.2.weight"]
    assert "op.7.running_var" in keys
    convs = [m for m in make_op("sep_conv_5x5", 4, 2).modules() if isinstance(m, nn.Conv2d)]
    assert [(c.groups, c.kernel_size, c.stride) for c in convs] == [
        (4, (5, 5), (2, 2)),
        (1, (1, 1), (1, 1)),
        (4, (5, 5), (1, 1)),
        (1, (1, 1), (1, 1)),
    ]
    dil = [m for m in make_op("dil_conv_5x5", 4).modules() if isinstance(m, nn.Conv2d)]
    assert dil[0].dilation == (2, 2) and dil[0].padding == (4, 4) and dil[0].groups == 4


def test_affine_false_has_no_bn_parameters():
    op = make_op("dil_conv_3x3", 4, affine=False)
    assert sum(p.numel() for p in op.parameters()) == 4 * 9 + 16


def test_make_op_errors_name_the_argument():
    with pytest.raises(ProxydataValueError, match="name must be one of"):
        make_op("conv_7x1_1x7", 4)
    with pytest.raises(ProxydataTypeError, match="name"):
        make_op(3, 4)
    with pytest.raises(ProxydataValueError, match="stride must be 1 or 2, got 3"):
        make_op("none", 4, 3)
    with pytest.raises(ProxydataValueError, match="channels must be >= 1"):
        make_op("none", 0)
    with pytest.raises(ProxydataValueError, match="channels must be even"):
        make_op("skip_connect", 3, 2)
    with pytest.raises(ProxydataTypeError, match="affine"):
        make_op("none", 4, affine=1)


# -- genotypes ---------------------------------------------------------------------------
def test_published_strings_parse_to_the_registry():
    assert DartsGenotype.parse(DARTS_V2_TEXT) == GENOTYPES["DARTS_V2"]
    assert DartsGenotype.parse(PDARTS_TEXT) == GENOTYPES["PDARTS"]
    assert set(GENOTYPES) == {"DARTS_V1", "DARTS_V2", "PC_DARTS", "PDARTS"}


def test_published_cells_hand_facts():
    # DARTS paper Fig. 4–5 / the repositories: skip connections in the normal cell
    assert [GENOTYPES[k].count("skip_connect") for k in ("DARTS_V1", "DARTS_V2", "PC_DARTS", "PDARTS")] == [
        3,
        2,
        1,
        2,
    ]
    assert GENOTYPES["DARTS_V2"].count("max_pool_3x3", "reduce") == 5
    assert GENOTYPES["PC_DARTS"].normal[6] == ("avg_pool_3x3", 0)
    assert all(g.steps == 4 for g in GENOTYPES.values())


def test_str_is_the_darts_text_form():
    g = GENOTYPES["DARTS_V2"]
    assert str(g) == (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        "('dil_conv_3x3', 2)], "
        "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
        "('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
    )
    odd = DartsGenotype(g.normal, (2, 4, 5), g.reduce, (5,))
    assert "normal_concat=[2, 4, 5]" in str(odd) and "reduce_concat=[5]" in str(odd)
    assert DartsGenotype.parse(str(odd)) == odd


def test_parse_accepts_variants():
    text = (
        'Genotype(\n  reduce=(("none", 0), ("none", 1),),\n'
        '  normal=[("sep_conv_5x5", 1), ("skip_connect", 0)],'
        "\n  normal_concat=range(3), reduce_concat=(2,),\n)"
    )
    g = DartsGenotype.parse(text)
    assert g.normal == (("sep_conv_5x5", 1), ("skip_connect", 0))
    assert g.normal_concat == (0, 1, 2) and g.reduce_concat == (2,) and g.steps == 1


def test_equal_whatever_the_form_and_hashable():
    a = DartsGenotype([["none", 0], ["none", 1]], range(2, 3), [("none", 0), ("none", 1)], [2])
    b = DartsGenotype((("none", 0), ("none", 1)), (2,), (("none", 0), ("none", 1)), (2,))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.normal = ()


class _RepoGenotype:  # stands for the repositories' namedtuple
    def __init__(self, g):
        self.normal, self.normal_concat = list(g.normal), range(2, 6)
        self.reduce, self.reduce_concat = list(g.reduce), [2, 3, 4, 5]


def test_as_darts_genotype():
    g = GENOTYPES["PC_DARTS"]
    assert as_darts_genotype(g) is g
    assert as_darts_genotype(str(g)) == g
    assert as_darts_genotype(_RepoGenotype(g)) == g
    with pytest.raises(ProxydataTypeError, match="genotype must be"):
        as_darts_genotype(3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"normal": [("sep_conv_3x3", 0)]}, ProxydataValueError, "normal must hold two"),
        ({"normal": []}, ProxydataValueError, "normal must hold two"),
        ({"reduce": "abc"}, ProxydataTypeError, "reduce must be a sequence"),
        (
            {"normal": [("sep_conv_7x7", 0), ("none", 1)]},
            ProxydataValueError,
            r"normal\[0\] operation must be",
        ),
        (
            {"normal": [("none", 0), ("none", 2)]},
            ProxydataValueError,
            r"normal\[1\] input must be a state in \[0, 1\]",
        ),
        ({"reduce": [("none", 0), ("none", -1)]}, ProxydataValueError, r"reduce\[1\] input"),
        ({"normal": [("none", 0), ("none", 1.0)]}, ProxydataTypeError, r"normal\[1\] input must be an int"),
        (
            {"normal": [("none", 0), ("none",)]},
            ProxydataTypeError,
            r"normal\[1\] must be an \(operation, input\) pair",
        ),
        ({"normal_concat": []}, ProxydataValueError, "normal_concat must name at least one"),
        ({"normal_concat": [2, 3]}, ProxydataValueError, r"normal_concat states must lie in \[0, 2\], got 3"),
        ({"reduce_concat": [2, 2]}, ProxydataValueError, "reduce_concat must not repeat"),
        ({"reduce_concat": ["2"]}, ProxydataTypeError, "reduce_concat must hold ints"),
    ],
)
def test_bad_genotypes_name_the_field(kwargs, error, match):
    base = {
        "normal": [("none", 0), ("none", 1)],
        "normal_concat": [2],
        "reduce": [("none", 0), ("none", 1)],
        "reduce_concat": [2],
    }
    with pytest.raises(error, match=match):
        DartsGenotype(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            f"Genotype({_TINY})",
            r"missing field\(s\) \['reduce_concat'\]",
        ),
        ("Foo(normal=[])", "expected 'Genotype'"),
        (
            f"Genotype({_TINY}, reduce_concat=__import__('os'))",
            "expected 'range' or a list of ints",
        ),
        (
            f"Genotype({_TINY}, reduce_concat=[2]) + 1",
            "unexpected character",
        ),
        ("Genotype(normal=[('none', 0), ('none', 1)], normal_concat=[2], normal_concat=[2])", "given twice"),
        ("Genotype(weights=[])", "unknown field 'weights'"),
        ("Genotype(normal=[('none' 0)])", "expected ','"),
        ("", "expected 'Genotype', got the end"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(ProxydataValueError, match=match) as info:
        DartsGenotype.parse(text)
    assert "text must be a DARTS genotype" in str(info.value)


def test_parse_type_error():
    with pytest.raises(ProxydataTypeError, match="text must be a str"):
        DartsGenotype.parse(b"Genotype()")


def test_parse_invalid_content_is_a_field_error():
    with pytest.raises(ProxydataValueError, match=r"normal\[1\] input"):
        DartsGenotype.parse(
            "Genotype(normal=[('none', 0), ('none', 5)], normal_concat=[2], "
            "reduce=[('none', 0), ('none', 1)], reduce_concat=[2])"
        )


@st.composite
def _genotypes(draw):
    def cell():
        steps = draw(st.integers(1, 5))
        pairs = [
            (draw(st.sampled_from(DARTS_OPS)), draw(st.integers(0, k // 2 + 1))) for k in range(2 * steps)
        ]
        concat = draw(st.lists(st.integers(0, steps + 1), min_size=1, max_size=steps + 2, unique=True))
        return pairs, concat

    normal, normal_concat = cell()
    reduce, reduce_concat = cell()
    return DartsGenotype(normal, normal_concat, reduce, reduce_concat)


@given(_genotypes())
def test_round_trip(g):
    assert DartsGenotype.parse(str(g)) == g
    assert str(DartsGenotype.parse(str(g))) == str(g)
