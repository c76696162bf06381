"""proxydata.nas: errors a user can fix are the proxydata exception family (issue 11).

Each one is a ``ProxydataValueError`` / ``ProxydataTypeError`` (so also a
``ValueError`` / ``TypeError``) naming the argument, the file or the value.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas import Genotype, NB201Table, SearchNetwork, search, train_genotype
from proxydata.nas.optim import AdamSettings, SGDSettings

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


# ----------------------------------------------------------------------------- the table
def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("no_arch.csv", "genotype,acc\nx,1\n", "arch_str"),
        ("bad_cell.csv", f"arch_str,acc\n{BEST_C10},94.4\n|conv~0|+|x|,1\n", "row 3"),
        ("twice.csv.gz", f"arch_str,acc\n{BEST_C10},94.4\n{ALL_SKIP},54.3\n{BEST_C10},90.0\n", "row 4"),
        ("nan_index.csv", f"index,arch_str,acc\n0,{BEST_C10},94.4\n,{ALL_SKIP},54.3\n", "index"),
        ("short_row.csv", f"acc,arch_str\n94.4,{BEST_C10}\n54.3\n", "row 3"),
        # one damaged cell used to drop the whole column: lookup() then returned {}
        ("text_cell.csv", f"arch_str,acc\n{BEST_C10},94.4\n{ALL_SKIP},n/a\n", r"row 3 .*column 'acc'.*'n/a'"),
        (
            "text_cell_2.csv",
            f"arch_str,acc,top5\n{BEST_C10},x,99\n{ALL_SKIP},54.3,90\n",
            r"row 2 .*'acc'.*'x'",
        ),
    ],
)
def test_bad_table_file_is_a_value_error_naming_the_path(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(ProxydataValueError, match=match) as info:
        NB201Table(path)
    assert str(path) in str(info.value)


def test_unreadable_table_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"arch_str,acc\n\xff\xfe,1\n")  # not UTF-8
    with pytest.raises(ProxydataValueError, match="cannot read table") as info:
        NB201Table(path)
    assert str(path) in str(info.value)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(ProxydataValueError, match="cannot read table"):
        NB201Table(broken)


def test_table_argument_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROXYDATA_NB201_TABLE", raising=False)
    with pytest.raises(ProxydataValueError, match="PROXYDATA_NB201_TABLE"):
        NB201Table()
    with pytest.raises(ProxydataTypeError, match="path"):
        NB201Table(3)  # type: ignore[arg-type]
    with pytest.raises(ProxydataValueError, match=r"missing\.csv"):
        NB201Table(tmp_path / "missing.csv")
    table = NB201Table(_write(tmp_path / "ok.csv", f"arch_str,acc\n{BEST_C10},94.4\n"))
    with pytest.raises(ProxydataValueError, match="not in table"):
        table.lookup(ALL_SKIP)
    with pytest.raises(ProxydataValueError, match="column"):
        table.best("nope")
    with pytest.raises(ProxydataValueError, match="index"):
        table.index_of(BEST_C10)


def test_a_table_with_an_integer_index_column_still_reads(tmp_path: Path) -> None:
    table = NB201Table(_write(tmp_path / "ok.csv", f"index,arch_str,acc\n7,{BEST_C10},94.4\n"))
    assert table.index_of(BEST_C10) == 7 and table.columns == ("acc",)


def test_a_text_column_is_left_out_and_empty_cells_read_as_nan(tmp_path: Path) -> None:
    text = f"arch_str,acc,note\n{BEST_C10},94.4,best\n{ALL_SKIP},,\n"
    table = NB201Table(_write(tmp_path / "notes.csv", text))
    assert table.columns == ("acc",) and table.lookup(BEST_C10) == {"acc": 94.4}
    assert np.isnan(table.lookup(ALL_SKIP)["acc"])


# ----------------------------------------------------------------------------- genotypes
@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("|nor_conv_3x3~0|+|x~0|", ProxydataValueError),
        (("none",) * 5, ProxydataValueError),
        (("conv",) * 6, ProxydataValueError),
        (42, ProxydataTypeError),
    ],
)
def test_genotype_errors_are_the_family(value, error) -> None:
    with pytest.raises(error):
        Genotype.parse(value) if isinstance(value, (str, int)) else Genotype(value)


def test_from_alphas_errors_are_the_family() -> None:
    with pytest.raises(ProxydataValueError, match="shape"):
        Genotype.from_alphas(np.zeros((5, 5)))
    with pytest.raises(ProxydataValueError, match="finite"):
        Genotype.from_alphas(np.full((6, 5), np.nan))


# ----------------------------------------------------------------------------- the loops' arguments
@pytest.fixture(scope="module")
def loaders(digits):
    train, val = Subset(digits, list(range(32))), Subset(digits, list(range(32, 64)))
    return DataLoader(train, batch_size=16), DataLoader(val, batch_size=16)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(algo="not-an-algorithm"), ProxydataValueError, "algo"),
        (dict(algo="gdas"), ProxydataValueError, "algo='gdas'"),
        (dict(epochs=0), ProxydataValueError, "epochs"),
        (dict(pruner=object()), ProxydataTypeError, "pruner"),
        (dict(w_lr=-1.0), ProxydataValueError, "w_lr"),
        (dict(w_momentum=-0.5), ProxydataValueError, "w_momentum"),
        (dict(w_nesterov="yes"), ProxydataTypeError, "w_nesterov"),
        (dict(a_betas=(0.5,)), ProxydataTypeError, "a_betas"),
        (dict(a_betas=(0.5, 1.0)), ProxydataValueError, "a_betas"),
        (dict(a_lr=0.0), ProxydataValueError, "a_lr"),
        (dict(grad_clip=-1.0), ProxydataValueError, "grad_clip"),
        (dict(tau_min=20.0), ProxydataValueError, "tau_min"),
        (dict(hvp_eps=0.0), ProxydataValueError, "hvp_eps"),
        (dict(hessian_batch=(torch.zeros(2, 1, 8, 8),)), ProxydataTypeError, "hessian_batch"),
        (dict(hessian_batch=(torch.zeros(2, 1, 8, 8), torch.zeros(3))), ProxydataValueError, "hessian_batch"),
        (dict(callbacks=[1]), ProxydataTypeError, "callbacks"),
        (dict(callbacks=print), ProxydataTypeError, "callbacks"),
        (dict(callbacks=5), ProxydataTypeError, "callbacks"),
        (dict(progress=1), ProxydataTypeError, "progress"),
    ],
)
def test_search_argument_errors_are_the_family(loaders, kwargs, error, match) -> None:
    net = SearchNetwork(C=2, N=1, in_channels=1, seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    args = dict(epochs=1, progress=False) | kwargs
    with pytest.raises(error, match=match):
        search(net, *loaders, **args)
    # checked before anything ran
    assert all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before))


def test_search_network_must_be_a_supernet(loaders) -> None:
    with pytest.raises(ProxydataTypeError, match="network"):
        search(torch.nn.Linear(2, 2), *loaders, epochs=1, progress=False)


def test_empty_loaders_are_value_errors(loaders) -> None:
    net = SearchNetwork(C=2, N=1, in_channels=1, seed=0)
    with pytest.raises(ProxydataValueError, match="train_loader yielded no batches"):
        search(net, [], loaders[1], epochs=1, progress=False)
    with pytest.raises(ProxydataValueError, match="val_loader yielded no batches"):
        search(net, loaders[0], [], epochs=1, progress=False)
    with pytest.raises(ProxydataValueError, match="index"):
        search(net, *loaders, epochs=1, pruner=_NoOpPruner(), progress=False)


@pytest.mark.parametrize(("pruner_epochs", "done", "search_epochs"), [(2, 0, 3), (4, 3, 2)])
def test_a_pruner_with_fewer_epochs_left_than_the_search_is_refused_before_the_first_batch(
    loaders, pruner_epochs, done, search_epochs
) -> None:
    # It used to run the pruner's epochs and then fail with the pruner used up.
    from proxydata import BiLevelPruner

    pruner = BiLevelPruner(
        np.arange(64) % 10, range(32), range(32, 64), epochs=pruner_epochs, interval=2, train_prune_ratio=0.0,
        val_prune_ratio=0.0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing observed in these epochs
        for _ in range(done):
            pruner.step()
    net = SearchNetwork(C=2, N=1, in_channels=1, seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(
        ProxydataValueError, match=f"epochs={search_epochs} but the pruner has {pruner_epochs - done}"
    ):
        search(net, *loaders, epochs=search_epochs, pruner=pruner, progress=False)
    assert pruner.epoch == done and all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before))


def test_run_search_refuses_pruner_epochs_in_bdp_kwargs() -> None:
    from proxydata.experiment import SearchConfig

    with pytest.raises(ProxydataValueError, match=r"bdp_kwargs must not set \['epochs'\]"):
        SearchConfig(epochs=3, bdp=True, bdp_kwargs={"epochs": 2}).validate()


class _NoOpPruner:
    def observe(self, indices, logits) -> None:  # pragma: no cover - never reached
        raise AssertionError("observe before the batch check")

    def step(self) -> None:  # pragma: no cover
        raise AssertionError


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(lr=0.0), ProxydataValueError, "lr"),
        (dict(momentum=-1.0), ProxydataValueError, "momentum"),
        (dict(weight_decay=float("nan")), ProxydataValueError, "weight_decay"),
        (dict(grad_clip=-1.0), ProxydataValueError, "grad_clip"),
        (dict(epochs=0), ProxydataValueError, "epochs"),
    ],
)
def test_train_genotype_argument_errors_are_the_family(loaders, kwargs, error, match) -> None:
    args = dict(epochs=1, C=2, N=1, in_channels=1, progress=False) | kwargs
    with pytest.raises(error, match=match):
        train_genotype(BEST_C10, *loaders, **args)


def test_train_genotype_rejects_unpaired_batches() -> None:
    with pytest.raises(ProxydataValueError, match="batches"):
        train_genotype(BEST_C10, [torch.zeros(2)], [], epochs=1, C=2, N=1, progress=False)


# ----------------------------------------------------------------------------- the optimiser records
def test_sgd_settings_name_the_prefixed_argument() -> None:
    good = dict(lr=0.1, lr_min=0.0, momentum=0.9, weight_decay=5e-4, nesterov=True, grad_clip=None)
    settings = SGDSettings.checked(**good, prefix="w_")
    assert settings.grad_clip == 0.0 and settings.nesterov
    # Nesterov needs momentum: without it, SGD runs plain (as before the refactor)
    assert not SGDSettings.checked(**(good | dict(momentum=0.0))).nesterov
    with pytest.raises(ProxydataValueError, match="w_lr_min"):
        SGDSettings.checked(**(good | dict(lr_min=-1.0)), prefix="w_")
    with pytest.raises(ProxydataValueError, match=r"^grad_clip"):
        SGDSettings.checked(**(good | dict(grad_clip=-2.0)), prefix="w_")


def test_sgd_settings_cosine_schedule_and_clipping() -> None:
    settings = SGDSettings.checked(
        lr=0.1, lr_min=0.0, momentum=0.0, weight_decay=0.0, nesterov=False, grad_clip=1.0
    )
    param = torch.nn.Parameter(torch.zeros(3))
    opt = settings.optimizer([param])
    assert settings.start_epoch(opt, 0, 4) == pytest.approx(0.1)
    assert settings.start_epoch(opt, 2, 4) == pytest.approx(0.05)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    param.grad = torch.tensor([3.0, 4.0, 0.0])
    settings.clip([param, torch.nn.Parameter(torch.zeros(1))])  # a parameter without gradient is skipped
    assert float(param.grad.norm()) == pytest.approx(1.0)


def test_adam_settings() -> None:
    settings = AdamSettings.checked(lr=3e-4, betas=[0.5, 0.999], weight_decay=1e-3, prefix="a_")
    assert settings.betas == (0.5, 0.999)
    opt = settings.optimizer([torch.nn.Parameter(torch.zeros(1))])
    assert opt.defaults["betas"] == (0.5, 0.999) and opt.defaults["weight_decay"] == 1e-3
    with pytest.raises(ProxydataTypeError, match="a_betas"):
        AdamSettings.checked(lr=1.0, betas="ab", weight_decay=0.0, prefix="a_")
    with pytest.raises(ProxydataValueError, match="a_betas"):
        AdamSettings.checked(lr=1.0, betas=(-0.1, 0.9), weight_decay=0.0, prefix="a_")
