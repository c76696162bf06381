"""Ranking-study files and inputs as trustworthy as format-3 saved proxies (issue 29, cases 1, 5, 6, 7).

A study file is written whole or appended a line at a time, sealed line by line
(format 2), checked on every read; a study's arguments and its architectures
are checked before the first run, and every run's result before it is written.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from proxydata.exceptions import CorruptStateError, ProxydataError, ProxydataTypeError, ProxydataValueError
from proxydata.fidelity import STUDY_FORMAT, ranking_study, read_study, upgrade_study


class _Linear(nn.Module):
    def __init__(self, hidden: int, classes: int = 2, inputs: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x):
        return self.net(x)


class _Make:
    """A model factory that a fake train_fn can tell apart (``h``)."""

    def __init__(self, h: int, classes: int = 2):
        self.h, self.classes = h, classes

    def __call__(self) -> nn.Module:
        return _Linear(self.h, self.classes)


ARCHS = {f"mlp{h}": _Make(h) for h in (1, 2, 4)}


def _data(n=32, seed=0, width=8, classes=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, width, generator=g)
    y = torch.arange(n) % classes
    return TensorDataset(x, y)


_DEFAULT = object()


class _Fake:
    """A train_fn that trains nothing: accuracy from the architecture and seed; counts its calls."""

    def __init__(self, value=_DEFAULT):
        self.calls = 0
        self.value = value

    def __call__(self, arch, train_loader, test_loader, *, epochs, seed, device):
        self.calls += 1
        if self.value is not _DEFAULT:
            return {"test_acc": self.value}
        return {"test_acc": 0.5 + 0.1 * math.log2(arch.h) / 4 + 0.01 * seed, "test_loss": 0.7}


def _study(tmp_path, name="s.jsonl", train_fn=None, **kw):
    out = tmp_path / name
    args = dict(seeds=(0, 1), epochs=1, batch_size=16, out=out, n_bootstrap=0, progress=False)
    args.update(kw)
    fn = train_fn or _Fake()
    study = ranking_study(_data(32, 0), _data(16, 1), {"full": None, "half": np.arange(0, 32, 2)}, ARCHS,
                          train_fn=fn, **args)  # fmt: skip
    return out, study, fn


# --- case 1: the settings are serialised before the file exists ------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"train_kwargs": {"x": np.int64(2)}},
        {"network_kwargs": {"C": np.int64(2)}},
        {"network_kwargs": {"C": np.float32(2.5), "N": (1, 2)}},
        {"settings": {"note": np.bool_(True)}},
    ],
)
def test_numpy_settings_are_recorded_and_resumed(tmp_path, kw):
    out, _, fn = _study(tmp_path, **kw)
    assert fn.calls == 12
    settings, rows = read_study(out)
    assert settings["format"] == STUDY_FORMAT and len(rows) == 12
    again = _Fake()
    _study(tmp_path, train_fn=again, **kw)  # resumes: nothing left to run
    assert again.calls == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"train_kwargs": {"x": object()}},
        {"network_kwargs": {"C": torch.tensor([1, 2])}},
        {"settings": {"when": float("nan")}},
        {"network_kwargs": {1: 2}},
        {"train_kwargs": "lr=0.1"},
    ],
)
def test_unrecordable_settings_refused_before_any_file(tmp_path, kw):
    fn = _Fake()
    with pytest.raises((ProxydataTypeError, ProxydataValueError)):
        _study(tmp_path, train_fn=fn, **kw)
    assert fn.calls == 0
    assert not (tmp_path / "s.jsonl").exists()  # no empty file left to block a rerun
    _study(tmp_path)  # the rerun with good settings works


# --- case 5: every row checked on read --------------------------------------------------------------


def _lines(path):
    return path.read_text().splitlines()


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def _edit_row(path, number, **changes):
    lines = _lines(path)
    row = json.loads(lines[number])
    for k, v in changes.items():
        if v is _DROP:
            row.pop(k)
        else:
            row[k] = v
    lines[number] = json.dumps(row, sort_keys=True)
    _write(path, lines)


_DROP = object()


@pytest.mark.parametrize(
    "edit",
    [
        {"test_acc": 99.0},
        {"test_acc": float("nan")},
        {"test_acc": None},
        {"test_acc": "91.5"},
        {"test_acc": 150.0},
        {"seed": 1.5},
        {"seed": True},
        {"seed": _DROP},
        {"selection": _DROP},
        {"architecture": "mlp99"},
        {"selection": "other"},
        {"extra": 1},
        {"digest": _DROP},
    ],
    ids=lambda e: ",".join(f"{k}={v!r}" for k, v in e.items())[:40],
)
def test_edited_row_refused(tmp_path, edit):
    out, _, _ = _study(tmp_path)
    _edit_row(out, 3, **edit)
    with pytest.raises(CorruptStateError):
        read_study(out)
    fn = _Fake()
    with pytest.raises(CorruptStateError):  # and a resume refuses it before any run
        _study(tmp_path, train_fn=fn)
    assert fn.calls == 0


def test_every_field_of_every_line_is_sealed(tmp_path):
    """Any field of the settings line or of a row, edited in turn (value, type, removal), is refused."""
    out, _, _ = _study(tmp_path)
    original = _lines(out)
    for number in (0, 1, len(original) - 1):
        item = json.loads(original[number])
        for key, value in item.items():
            if number == 0 and key == "kind":
                continue  # without its kind the first line is no settings line at all (refused as well)
            for new in _variants(value):
                edited = dict(item, **{key: new})
                lines = list(original)
                lines[number] = json.dumps(edited, sort_keys=True)
                _write(out, lines)
                with pytest.raises(CorruptStateError):
                    read_study(out)
            lines = list(original)
            lines[number] = json.dumps({k: v for k, v in item.items() if k != key}, sort_keys=True)
            _write(out, lines)
            with pytest.raises(CorruptStateError):
                read_study(out)
    _write(out, original)
    assert len(read_study(out)[1]) == 12


def _variants(value):
    if isinstance(value, bool):
        return [not value, str(value)]
    if isinstance(value, int):
        return [value + 1, float(value), str(value)]
    if isinstance(value, float):
        return [value + 0.5 if math.isfinite(value) else 1.0, str(value), None]
    if isinstance(value, str):
        return [value + "x", None]
    if isinstance(value, list):
        return [value[:-1], [*value, value[0]]]
    if isinstance(value, dict):
        return [{**value, "zz": 1}, {k: v for k, v in list(value.items())[1:]}] if value else [{"zz": 1}]
    return ["x"]


@pytest.mark.parametrize("fmt", [1, 3, "2", None, True])
def test_format_claims_refused(tmp_path, fmt):
    out, _, _ = _study(tmp_path)
    lines = _lines(out)
    settings = json.loads(lines[0])
    settings["format"] = fmt
    lines[0] = json.dumps(settings, sort_keys=True)
    _write(out, lines)
    with pytest.raises(CorruptStateError):
        read_study(out)
    with pytest.raises(CorruptStateError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_study(out, verify=False)  # a format-1 claim carrying format-2 fields: edited


def test_duplicated_run_refused(tmp_path):
    out, _, _ = _study(tmp_path)
    lines = _lines(out)
    _write(out, [*lines, lines[5]])
    with pytest.raises(CorruptStateError, match="repeats the run"):
        read_study(out)


@pytest.mark.parametrize(
    "first",
    ["", "[]", "3", '"settings"', '{"kind": "row"}', "not json"],
)
def test_bad_first_line_refused(tmp_path, first):
    out, _, _ = _study(tmp_path)
    _write(out, [first, *_lines(out)[1:]])
    with pytest.raises(CorruptStateError):
        read_study(out)


@pytest.mark.parametrize("row", ["[1, 2]", "7", "null", '"x"', "{}"])
def test_non_object_rows_refused(tmp_path, row):
    out, _, _ = _study(tmp_path)
    _write(out, [*_lines(out), row])
    with pytest.raises(CorruptStateError):
        read_study(out)


def test_empty_file_refused_with_fix(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_text("")
    with pytest.raises(CorruptStateError, match="empty"):
        read_study(out)


@pytest.mark.parametrize("cut", [1, 10, -2])
def test_torn_last_line_dropped_and_redone(tmp_path, cut):
    out, _, _ = _study(tmp_path)
    text = out.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    out.write_text(text[: len(text) - len(last) - 1] + last[:cut])  # a write killed half-way
    with pytest.warns(UserWarning, match="torn"):
        _, rows = read_study(out)
    assert len(rows) == 11
    fn = _Fake()
    with pytest.warns(UserWarning, match="torn"):
        _study(tmp_path, train_fn=fn)
    assert fn.calls == 1  # the cut run is redone
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rows = read_study(out)
    assert len(rows) == 12


def test_torn_line_inside_refused(tmp_path):
    out, _, _ = _study(tmp_path)
    lines = _lines(out)
    lines[4] = lines[4][:20]
    _write(out, lines)
    with pytest.raises(CorruptStateError, match="not JSON"):
        read_study(out)


def test_row_copied_from_another_study_refused(tmp_path):
    a, _, _ = _study(tmp_path, "a.jsonl")
    b, _, _ = _study(tmp_path, "b.jsonl", epochs=2)
    lines = _lines(a)
    lines[2] = _lines(b)[2]
    _write(a, lines)
    with pytest.raises(CorruptStateError, match="digest"):
        read_study(a)


# --- format 1 and its upgrade ---------------------------------------------------------------------


def _format1(tmp_path):
    out, _, _ = _study(tmp_path)
    lines = [json.loads(line) for line in _lines(out)]
    settings = {
        k: v for k, v in lines[0].items() if k not in ("architectures", "seeds", "selections", "digest")
    }
    settings["format"] = 1
    rows = [{k: v for k, v in r.items() if k != "digest"} for r in lines[1:]]
    _write(out, [json.dumps(x, sort_keys=True) for x in [settings, *rows]])
    return out


def test_format1_needs_verify_false_or_upgrade(tmp_path):
    out = _format1(tmp_path)
    with pytest.raises(CorruptStateError, match="upgrade_study"):
        read_study(out)
    with pytest.warns(UserWarning, match="format 1"):
        _, rows = read_study(out, verify=False)
    assert len(rows) == 12
    upgrade_study(out)
    settings, rows = read_study(out)
    assert settings["format"] == 2 and settings["seeds"] == [0, 1] and len(rows) == 12
    assert set(settings["architectures"]) == set(ARCHS)


def test_format1_rows_still_checked(tmp_path):
    out = _format1(tmp_path)
    _edit_row(out, 2, test_acc="91.5")
    with pytest.raises(CorruptStateError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_study(out, verify=False)


# --- case 6: checks before any run ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"top_k": 0}, ProxydataValueError),
        ({"top_k": 1.5}, ProxydataTypeError),
        ({"n_bootstrap": -1}, ProxydataValueError),
        ({"n_bootstrap": None}, ProxydataTypeError),
        ({"seeds": 3}, ProxydataTypeError),
    ],
)
def test_agreement_arguments_checked_before_training(tmp_path, kw, error):
    fn = _Fake()
    with pytest.raises(error):
        _study(tmp_path, train_fn=fn, **kw)
    assert fn.calls == 0


def _train_count(monkeypatch):
    calls = []
    import proxydata.fidelity.study as study_module

    real = study_module.train_architecture

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(study_module, "train_architecture", counting)
    return calls


@pytest.mark.parametrize(
    ("train", "test", "archs", "match"),
    [
        (_data(32), _data(16, 1, classes=5), ARCHS, "logits"),  # test labels beyond the logits
        (_data(32, classes=3), _data(16, 1), ARCHS, "logits"),  # training labels beyond them
        (_data(32), _data(16, 1, width=9), ARCHS, "shape"),  # another input size
        (_data(32), _data(16, 1), {f"m{h}": _Make(h, classes=1) for h in (1, 2, 3)}, "logits"),
        (_data(32), _data(16, 1), {f"m{h}": (lambda: nn.Flatten()) for h in (1, 2, 3)}, "parameters"),
        (_data(32), _data(16, 1), {f"m{h}": (lambda: 3) for h in (1, 2, 3)}, "nn.Module"),
        (_data(32, width=5), _data(16, 1, width=5), ARCHS, "cannot run"),  # the model's width
    ],
)
def test_data_the_networks_cannot_take_refused_before_training(
    tmp_path, monkeypatch, train, test, archs, match
):
    calls = _train_count(monkeypatch)
    with pytest.raises(ProxydataError, match=match):
        ranking_study(train, test, {"full": None}, archs, seeds=(0, 1), epochs=1, batch_size=16,
                      out=tmp_path / "s.jsonl", n_bootstrap=0, progress=False)  # fmt: skip
    assert calls == []


def test_cells_with_other_channels_refused_before_training(tmp_path, monkeypatch):
    calls = _train_count(monkeypatch)
    g = torch.Generator().manual_seed(0)
    images = TensorDataset(torch.rand(8, 3, 8, 8, generator=g), torch.arange(8) % 2)
    cells = [
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
        "|skip_connect~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
    ]
    with pytest.raises(ProxydataValueError, match="cannot run"):
        ranking_study(images, images, {"full": None}, cells, epochs=1, progress=False, n_bootstrap=0,
                      network_kwargs={"C": 2, "N": 1, "in_channels": 1, "num_classes": 2})  # fmt: skip
    assert calls == []


@pytest.mark.parametrize(
    "change",
    [
        {"seeds": (0, 1, 2)},
        {"seeds": (0,)},
        {"archs": {f"mlp{h}": _Make(h) for h in (1, 2, 8)}},
        {"archs": {f"mlp{h}": _Make(h) for h in (1, 2, 4, 8)}},
        {"selections": {"full": None}},
    ],
    ids=["more-seeds", "fewer-seeds", "other-archs", "more-archs", "fewer-selections"],
)
def test_resume_with_other_plan_refused(tmp_path, change):
    out, _, fn = _study(tmp_path)
    fn.calls = 0  # the same train_fn: only the plan differs
    selections = change.get("selections", {"full": None, "half": np.arange(0, 32, 2)})
    with pytest.raises(ProxydataValueError, match="other settings"):
        ranking_study(_data(32), _data(16, 1), selections, change.get("archs", ARCHS),
                      seeds=change.get("seeds", (0, 1)), epochs=1, batch_size=16, out=out,
                      n_bootstrap=0, progress=False, train_fn=fn)  # fmt: skip
    assert fn.calls == 0


# --- case 7: train_fn's results -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), ProxydataValueError),
        (float("inf"), ProxydataValueError),
        (85.0, ProxydataValueError),
        (-0.5, ProxydataValueError),
        (1.0000001, ProxydataValueError),
        (True, ProxydataTypeError),
        (None, ProxydataTypeError),
        ("0.9", ProxydataTypeError),
        (np.float64("nan"), ProxydataValueError),
        (torch.tensor(0.5), ProxydataTypeError),
    ],
)
def test_train_fn_results_checked_before_written(tmp_path, value, error):
    fn = _Fake(value)
    with pytest.raises(error, match="test_acc"):
        _study(tmp_path, train_fn=fn)
    assert fn.calls == 1
    _, rows = read_study(tmp_path / "s.jsonl")
    assert rows == []  # nothing written for the bad run


@pytest.mark.parametrize(
    "extra",
    [{"test_loss": "low"}, {"cpu_seconds": -1.0}, {"train_samples": 2.5}, {"seconds": True}],
)
def test_train_fn_other_fields_checked(tmp_path, extra):
    def fn(arch, train_loader, test_loader, *, epochs, seed, device):
        return {"test_acc": 0.5, **extra}

    with pytest.raises((ProxydataTypeError, ProxydataValueError)):
        _study(tmp_path, train_fn=fn)


def test_train_fn_fraction_stored_as_percent(tmp_path):
    out, study, _ = _study(tmp_path, train_fn=_Fake(0.85))
    assert {r["test_acc"] for r in study.rows} == {85.0}
    assert {r["test_acc"] for r in read_study(out)[1]} == {85.0}


_MUTATE: dict = {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_one_character_changed_is_refused_or_changes_nothing(tmp_path_factory, data):
    """Invariant: a study file with one character replaced reads as the same study, or is refused."""
    if "study" not in _MUTATE:  # one study for every example
        folder = tmp_path_factory.mktemp("mutate")
        _study(folder)
        _MUTATE.update(folder=folder, study=read_study(folder / "s.jsonl"))
    folder, expected = _MUTATE["folder"], _MUTATE["study"]
    text = (folder / "s.jsonl").read_text()
    at = data.draw(st.integers(0, len(text) - 2))  # the final newline is the torn-line case
    char = data.draw(st.characters(min_codepoint=32, max_codepoint=126).filter(lambda c: c != text[at]))
    mutated = folder / "m.jsonl"
    mutated.write_text(text[:at] + char + text[at + 1 :])
    try:
        got = read_study(mutated)
    except CorruptStateError:
        return
    assert got == expected  # e.g. a space where JSON allows one
