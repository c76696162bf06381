"""The API pages show every parameter's true default.

The site's parameter tables come from griffe: ``mkdocstrings`` loads the package
with the extension ``docs/_ext/griffe_proxydata.py`` and parses each docstring in
numpy style; the *Default* column shows ``DocstringParameter.default``. This test
runs the same extraction (same loader, same extension, same parser) over every
public class, function and method of ``proxydata`` and compares each shown
default with :func:`inspect.signature` of the imported object.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

griffe = pytest.importorskip("griffe")

REPO = Path(__file__).resolve().parents[1]
EXTENSION = str(REPO / "docs" / "_ext" / "griffe_proxydata.py") + ":ProxydataDocs"
MISSING = object()


@functools.cache
def _load() -> Any:
    """The package as the site loads it (once per test session)."""
    return griffe.load(
        "proxydata",
        search_paths=[str(REPO)],
        extensions=griffe.load_extensions(EXTENSION),
        docstring_parser="numpy",
        resolve_aliases=True,
        resolve_external=False,
    )


def _documented(obj: Any) -> Iterator[Any]:
    """Every public class, function and method defined in ``obj`` (aliases not followed)."""
    for member in obj.members.values():
        if member.is_alias or (member.name.startswith("_") and member.name != "__init__"):
            continue
        if member.is_module:
            yield from _documented(member)
        elif member.is_class:
            yield member
            yield from _documented(member)
        elif member.is_function:
            yield member


def _runtime(obj: Any) -> Any:
    """The imported object griffe's ``obj`` describes (``MISSING`` when it is not importable).

    (``proxydata.integrations.nni`` needs NNI, which the test environment lacks.)
    """
    try:
        module = importlib.import_module(obj.module.path)
    except ImportError:
        return MISSING
    found: Any = module
    for part in obj.path[len(obj.module.path) + 1 :].split("."):
        found = inspect.getattr_static(found, part, MISSING)
        if found is MISSING:
            return MISSING
        if isinstance(found, (staticmethod, classmethod)):
            found = found.__func__
    return found


def _same(shown: Any, actual: Any, namespace: dict[str, Any]) -> bool:
    """Whether the default the page shows (source text, or ``None`` for none) is ``actual``."""
    if actual is inspect.Parameter.empty:
        return shown is None
    if shown is None:
        return False
    text = str(shown)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            value = eval(text, dict(namespace))  # a name or an expression of the module, e.g. DEFAULT_OPS
        except Exception:
            return False
    if value is actual:
        return True
    if type(value) is not type(actual):
        return False
    if isinstance(value, float) and math.isnan(value):
        return math.isnan(actual)
    try:
        return bool(value == actual)
    except Exception:
        return False


def _comparisons() -> tuple[int, list[str]]:
    pkg = _load()
    checked, mismatches = 0, []
    for obj in _documented(pkg):
        if obj.docstring is None:
            continue
        runtime = _runtime(obj)
        if runtime is MISSING or not callable(runtime):
            continue
        try:
            signature = inspect.signature(runtime)
        except (TypeError, ValueError):
            continue
        namespace = vars(importlib.import_module(obj.module.path))
        for section in obj.docstring.parse("numpy", warnings=False):
            if section.kind not in (
                griffe.DocstringSectionKind.parameters,
                griffe.DocstringSectionKind.other_parameters,
            ):
                continue
            for item in section.value:
                parameter = signature.parameters.get(item.name.lstrip("*"))
                if parameter is None:
                    continue
                checked += 1
                if not _same(item.default, parameter.default, namespace):
                    mismatches.append(
                        f"{obj.path}.{item.name}: page {item.default!r}, code {parameter.default!r}"
                    )
    return checked, mismatches


def test_every_shown_default_is_the_signature_default() -> None:
    checked, mismatches = _comparisons()
    assert checked > 300, f"only {checked} parameters compared: is the package loaded?"
    assert not mismatches, f"{len(mismatches)} of {checked} defaults differ:\n" + "\n".join(mismatches)


def test_the_cases_of_issue_30_show_their_own_defaults() -> None:
    pkg = _load()
    shown = {}
    for path in (
        "proxydata.pruning.pruner.BiLevelPruner",
        "proxydata.samplers.outliers.KMeansOutlierProxy",
        "proxydata.samplers.transfer.TransferProxy",
    ):
        obj = pkg[path.removeprefix("proxydata.")]
        for section in obj.docstring.parse("numpy", warnings=False):
            if section.kind is griffe.DocstringSectionKind.parameters:
                shown.update(
                    {f"{obj.name}.{p.name}": ast.literal_eval(str(p.default)) for p in section.value}
                )
    assert shown["BiLevelPruner.train_criterion"] == "low"
    assert shown["BiLevelPruner.val_criterion"] == "high"  # was "low", the first choice and name
    assert shown["KMeansOutlierProxy.n_init"] == 1  # was 25, n_clusters's
    assert shown["TransferProxy.momentum"] == 0.9  # was 0.001, lr's


def test_the_docs_extra_installs_a_signature_formatter() -> None:
    # mkdocstrings-python formats signatures with Black or Ruff; without either they are one long line.
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        req.split(">")[0].split("=")[0].split("[")[0].strip()
        for req in project["optional-dependencies"]["docs"]
    }
    assert names & {"ruff", "black"}, sorted(names)


# ---------------------------------------------------------------------------- what else the pages show


def test_types_are_plain_text_and_private_bases_are_replaced() -> None:
    pkg = _load()
    km = pkg["samplers.outliers.KMeansOutlierProxy"]
    (params,) = [s for s in km.docstring.parse("numpy", warnings=False) if s.kind.value == "parameters"]
    features = next(p for p in params.value if p.name == "features")
    assert str(features.annotation).startswith('"pixels", a .npy path')  # was ``.npy`` as written
    assert [str(b) for b in km.extra["proxydata"]["bases"]] == ["ProxySampler"]  # not _FeatureProxy
    assert "bases" not in pkg["samplers.base.ProxySampler"].extra["proxydata"]  # public bases as written


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "proxydata_docs_hooks_i30", REPO / "docs" / "_ext" / "hooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_value_and_its_interval_may_break_between_the_two() -> None:
    html = "<td>+0.24 [+0.01, +0.43]</td><td>keeps</td><td>a long prose cell of more than 24 characters</td>"
    assert _hooks().mark_cells(html) == (
        '<td class="pd-ci"><span>+0.24</span> <span>[+0.01, +0.43]</span></td>'
        '<td class="pd-short">keeps</td><td>a long prose cell of more than 24 characters</td>'
    )
    css = (REPO / "docs" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert "td.pd-ci span" in css and ":has(td.pd-ci)" in css


def test_search_works_from_disk_without_fetching_anything(tmp_path) -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert "javascripts/file-worker.js" in config["extra"]["polyfills"]
    assert (REPO / "docs" / "javascripts" / "file-worker.js").is_file()
    assert "offline" not in config["plugins"]  # it adds a script from unpkg.com
    assert config["use_directory_urls"] == "false"
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "search_index.json").write_text('{"docs": []}', encoding="utf-8")
    assert _hooks().write_search_index_script(tmp_path)
    assert (tmp_path / "search" / "search_index.js").read_text(
        encoding="utf-8"
    ) == 'var __index = {"docs": []}'
    assert not _hooks().write_search_index_script(tmp_path / "nothing")
