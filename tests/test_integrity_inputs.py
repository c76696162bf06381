"""Inputs that used to hang, escape the error family or be accepted wrongly (issue 29, cases 2, 8, 9).

Each is now a ``ProxydataError`` (exit status 2 on the command line) before any
work, or a correct result.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import torch
from torch import nn

from proxydata import AutoencoderProxy, ProxySampler
from proxydata.cli import main
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import ProxydataError, ProxydataTypeError, ProxydataValueError
from proxydata.items import first_unstable_item
from proxydata.metrics import (
    class_means,
    class_prune_limits,
    distances_to_centroids,
    distances_to_class_means,
    ranking_agreement,
)
from proxydata.nas import NB201Table

# --- case 2 and the CLI parts of case 8 ---------------------------------------------------------------


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sample", "16000"], "--sample"),
        (["--sample", "15626"], "--sample"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_rank_flags_refused_before_any_work(capsys, argv, message):
    def hung(signum, frame):
        raise TimeoutError("proxydata rank did not return within 60 s")

    previous = signal.signal(signal.SIGALRM, hung)  # --sample 16000 used to loop for ever
    signal.alarm(60)
    try:
        code, out, err = _run(capsys, "rank", "--quick", "--no-progress", *argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert "ranking" not in out


@pytest.mark.parametrize(
    "content",
    [
        {"cells": [{"genotype": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}]},
        [{"arch": 3}],
        {"cells": {"arch": "x"}},
        {"cells": 7},
    ],
)
def test_rank_architecture_entries_without_arch_exit_2(capsys, tmp_path, content):
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps(content))
    code, out, err = _run(capsys, "rank", "--quick", "--no-progress", "--architectures", str(cells))
    assert code == 2 and "--architectures" in err and "Traceback" not in err
    assert "ranking" not in out


def test_random_architectures_are_distinct_and_reproducible():
    from proxydata.cli.rank_command import _random_architectures

    cells = _random_architectures(200, 3)
    assert len(set(cells)) == 200 and cells == _random_architectures(200, 3)


# --- ranking_agreement (cases 8 and 9) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "error"),
    [
        (["1", "2", "3"], ProxydataTypeError),
        (b"\x01\x02\x03", ProxydataTypeError),
        ({3: 1, 1: 2, 2: 3}, ProxydataTypeError),
        ({1.0, 2.0, 3.0}, ProxydataTypeError),
        ([1 + 1j, 2, 3], ProxydataTypeError),
        (np.array([1 + 1j, 2, 3]), ProxydataTypeError),
        ([True, False, True], ProxydataTypeError),
        (np.array([True, False, True]), ProxydataTypeError),
        (torch.tensor([1 + 0j, 2, 3]), ProxydataTypeError),
        ([10**400, 1, 2], ProxydataValueError),
        ([1.0, None, 2.0], ProxydataTypeError),
        (np.array(["1", "2", "3"]), ProxydataTypeError),
        (iter([1, 2, 3]), ProxydataTypeError),
        ("123", ProxydataTypeError),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, type) else v.__name__,
)
def test_ranking_agreement_refuses_what_is_no_scoring(scores, error):
    with pytest.raises(error):
        ranking_agreement(scores, [1.0, 2.0, 3.0], top_k=2)
    with pytest.raises(error):
        ranking_agreement([1.0, 2.0, 3.0], scores, top_k=2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.int64])
def test_ranking_agreement_takes_any_real_tensor(dtype):
    a = torch.tensor([1, 2, 3, 4], dtype=dtype)
    r = ranking_agreement(a, [1, 2, 4, 3], top_k=2)
    assert r["kendall_tau"] == pytest.approx(4 / 6)


def test_ranking_agreement_takes_numpy_and_ranges():
    r = ranking_agreement(np.arange(4, dtype=np.float32), range(4), top_k=2)
    assert r["kendall_tau"] == pytest.approx(1.0)


# --- class means, centroids, limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "labels", "k", "match"),
    [
        ([np.ones((4, 3))], np.array([0, 1, 2, 5]), 3, "labels"),
        ([np.ones((4, 3))], np.array([0, 1, -1, 2]), 3, "labels"),
        ([np.ones((2, 3)), np.ones((2, 4))], np.array([0, 1, 2, 0]), 3, "width"),
        ([np.ones((6, 3))], np.array([0, 1, 2, 0]), 3, "rows"),
        ([np.ones((4, 3))], np.array([0, 1, 2, 0]), 0, "num_classes"),
        ([np.ones((4, 3))], np.array([0.5, 1, 2, 0]), 3, "labels"),
    ],
)
def test_class_means_refuses_bad_labels_and_widths(blocks, labels, k, match):
    with pytest.raises(ProxydataError, match=match):
        class_means(iter(blocks), labels, k)


@pytest.mark.parametrize(
    ("blocks", "labels", "means", "match"),
    [
        ([np.ones((4, 3))], np.array([0, 1, 2, 3]), np.zeros((3, 3)), "labels"),
        ([np.ones((4, 3))], np.array([0, 1, 2, 0]), np.zeros((3, 2)), "columns"),
        ([np.ones((5, 3))], np.array([0, 1, 2, 0]), np.zeros((3, 3)), "rows"),
        ([np.ones((4, 3))], np.array([0, 1, 2, 0]), np.zeros(3), "2-D"),
    ],
)
def test_distances_to_class_means_refuses_bad_labels_and_widths(blocks, labels, means, match):
    with pytest.raises(ProxydataError, match=match):
        distances_to_class_means(iter(blocks), labels, means)


def test_class_means_hand_case():
    x = np.array([[0.0, 2.0], [2.0, 4.0], [10.0, 0.0]])
    means = class_means([x[:2], x[2:]], np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(means, [[1.0, 3.0], [10.0, 0.0]])
    d = distances_to_class_means([x], np.array([0, 0, 1]), means)
    np.testing.assert_allclose(d, [np.sqrt(2), np.sqrt(2), 0.0])


@pytest.mark.parametrize(
    ("balance", "error"),
    [
        ([0.5], ProxydataTypeError),
        ("0.5", ProxydataTypeError),
        (True, ProxydataTypeError),
        (1.5, ProxydataValueError),
        (float("nan"), ProxydataValueError),
    ],
)
def test_class_prune_limits_balance_checked(balance, error):
    with pytest.raises(error, match="balance"):
        class_prune_limits([6, 4], 2, balance=balance)


def test_class_prune_limits_hand_case():
    # N_k = floor(n_k / S^(1 - B)): S = 4, B = 0.5 -> divisor 2
    np.testing.assert_array_equal(class_prune_limits([6, 5], 4, balance=0.5), [3, 2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_centroids_refused(bad):
    centroids = np.array([[0.0, 0.0], [1.0, bad]])
    with pytest.raises(ProxydataValueError, match="centroids"):
        distances_to_centroids(np.zeros((3, 2)), centroids)


@pytest.mark.parametrize(("k", "error"), [(-3, ProxydataValueError), (0, ProxydataValueError),
                                          (2.5, ProxydataTypeError), ("4", ProxydataTypeError)])  # fmt: skip
def test_first_unstable_item_checks_k(k, error):
    ds = ArrayDataset(np.zeros((5, 1, 2, 2), dtype=np.float32), np.arange(5) % 2)
    with pytest.raises(error, match="k"):
        first_unstable_item(ds, k)


# --- NAS-Bench-201 rows, saved proxies, the autoencoder ----------------------------------------------

CELL = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"


@pytest.mark.parametrize(
    "row",
    [f"{CELL},91.5", f'"{CELL}"', f"{CELL},91.5,80.0,7", f"{CELL},,"],
    ids=["one-missing", "two-missing", "extra", "empty-cells"],
)
def test_nb201_rows_with_missing_or_extra_cells(tmp_path, row):
    path = tmp_path / "t.csv"
    path.write_text(f"arch_str,cifar10_test_200ep,cifar100_test_200ep\n{row}\n")
    if row.endswith(",,"):  # empty cells are documented as NaN: still read
        assert np.isnan(NB201Table(path).lookup(CELL)["cifar10_test_200ep"])
        return
    with pytest.raises(ProxydataValueError, match="cells"):
        NB201Table(path)


def test_a_saved_proxy_npz_holding_one_array_is_refused(tmp_path):
    from proxydata.exceptions import CorruptStateError

    ds = ArrayDataset(np.zeros((8, 1, 2, 2), dtype=np.float32), np.arange(8) % 2)
    path = tmp_path / "p.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.arange(4))
    with pytest.raises(CorruptStateError, match="npz"):
        ProxySampler.load(path, ds)


class _WrongShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return torch.sigmoid(self.lin(x.flatten(1)))


@pytest.mark.parametrize(
    ("images", "kw", "match"),
    [
        (np.full((8, 1, 4, 4), 2.0, dtype=np.float32), {"loss": "bce"}, r"\[0, 1\]"),
        (np.full((8, 1, 4, 4), -0.5, dtype=np.float32), {"loss": "bce"}, r"\[0, 1\]"),
        (np.zeros((8, 1, 2, 2), dtype=np.float32), {"model": _WrongShape()}, "shape"),
    ],
)
def test_autoencoder_inputs_refused_in_the_family(images, kw, match):
    ds = ArrayDataset(images, np.arange(8) % 2)
    with pytest.raises(ProxydataValueError, match=match):
        AutoencoderProxy(ds, 0.5, epochs=1, batch_size=4, progress=False, **kw)
