"""proxydata.nas.counting: parameter and multiply-add counts against hand counts (and thop)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas.counting import count_flops, count_parameters


class _WithAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # 108 parameters
        self.bn = nn.BatchNorm2d(4)  # 8 parameters (+ buffers, not counted)
        self.auxiliary_head = nn.Linear(4, 10)  # 50 parameters, run in training only
        self.classifier = nn.Linear(4, 10)  # 50 parameters

    def forward(self, x):
        h = self.bn(self.body(x)).mean((2, 3))
        if self.training:
            return self.classifier(h), self.auxiliary_head(h)
        return self.classifier(h)


def test_count_parameters_hand_counts():
    model = _WithAux()
    assert count_parameters(model) == 108 + 8 + 50
    assert count_parameters(model, exclude=()) == 108 + 8 + 50 + 50
    assert count_parameters(model, exclude=("auxiliary", "classifier")) == 116


def test_count_parameters_shared_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    assert count_parameters(model) == 6


def test_count_flops_hand_counts():
    # conv 3→8, 3×3, stride 2 on 8×8: 4·4·8 outputs × 3·3·3 = 3,456
    assert count_flops(nn.Conv2d(3, 8, 3, stride=2, padding=1), (3, 8, 8)) == 3456
    # depthwise 8 channels 5×5 on 6×6 (padding 2): 6·6·8 outputs × 1·25 = 7,200
    assert count_flops(nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False), (8, 6, 6)) == 7200
    # grouped 8→4 with 2 groups, 1×1 on 3×3: 3·3·4 outputs × 4 = 144
    assert count_flops(nn.Conv2d(8, 4, 1, groups=2), (8, 3, 3)) == 144
    # dilation does not change the cost: 4·4·2 outputs × 2·9 = 576
    assert count_flops(nn.Conv2d(2, 2, 3, padding=2, dilation=2), (2, 4, 4)) == 576
    # linear 7→5: 35
    assert count_flops(nn.Linear(7, 5), (7,)) == 35
    assert count_flops(nn.Conv1d(2, 3, 3), (2, 5)) == 3 * 3 * 2 * 3


def test_count_flops_ignores_bn_relu_pool_and_training_only_heads():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, bias=False),  # 4·4·2 × 9 = 288
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 3),  # 6
    )
    assert count_flops(net, (1, 4, 4)) == 294
    model = _WithAux()  # aux head runs only in training mode
    assert count_flops(model, (3, 2, 2)) == 2 * 2 * 4 * 27 + 40


def test_count_flops_restores_modes_and_removes_hooks():
    model = _WithAux().train()
    model.bn.eval()
    before = model.bn.running_mean.clone()
    count_flops(model, (3, 4, 4))
    assert model.training and model.body.training and not model.bn.training
    assert torch.equal(model.bn.running_mean, before)  # eval-mode pass: statistics unchanged
    assert not model.body._forward_hooks and not model.classifier._forward_hooks


def test_module_called_twice_counts_twice():
    lin = nn.Linear(3, 3)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(self.lin(x))

    assert count_flops(Twice(), (3,)) == 18


def test_counter_errors_name_the_argument():
    with pytest.raises(ProxydataTypeError, match=r"model must be a torch\.nn\.Module"):
        count_parameters("net")
    with pytest.raises(ProxydataTypeError, match="model must be"):
        count_flops(None, (3, 4, 4))
    with pytest.raises(ProxydataTypeError, match="exclude must be an iterable of str"):
        count_parameters(nn.Linear(2, 2), exclude="auxiliary")
    with pytest.raises(ProxydataTypeError, match="exclude must hold non-empty str"):
        count_parameters(nn.Linear(2, 2), exclude=("",))
    with pytest.raises(ProxydataTypeError, match="input_size must be a non-empty sequence"):
        count_flops(nn.Linear(2, 2), 2)
    with pytest.raises(ProxydataTypeError, match="input_size must hold ints"):
        count_flops(nn.Linear(2, 2), (2.0,))
    with pytest.raises(ProxydataValueError, match="input_size must hold positive sizes"):
        count_flops(nn.Linear(2, 2), (0,))


def test_count_flops_agrees_with_thop():
    thop = pytest.importorskip("thop")
    torch.manual_seed(0)
    # Convolutions (grouped, depthwise, strided, dilated) and linear layers without bias: the
    # layers both counters count the same way (thop also counts bias, BatchNorm and pooling).
    net = nn.Sequential(
        nn.Conv2d(3, 12, 3, stride=2, padding=1, bias=False),
        nn.Conv2d(12, 12, 5, padding=2, groups=12, bias=False),
        nn.Conv2d(12, 8, 1, groups=4, bias=False),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, bias=False),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10, bias=False),
    )
    macs, _ = thop.profile(net, inputs=(torch.zeros(1, 3, 16, 16),), verbose=False)
    assert count_flops(net, (3, 16, 16)) == int(macs)
