"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

(MkDocs is imported inside the hooks only: ``tests/test_docs.py`` imports this file
to check the navigation without it.)

* **API pages from the navigation.** Every navigation entry ``api/<module>.md`` that
  has no file in ``docs/`` becomes a page rendering ``::: <module>`` with mkdocstrings.
  Adding the page of a new module is therefore one line in mkdocs.yml. A package's
  page shows its submodules too, unless one of them has a page of its own (then each
  needs one; ``tests/test_docs.py`` checks that every public module is covered).
* **Readable tables.** A table cell of at most 24 characters of plain text (a number
  such as ``61.89 ± 10.74``) gets the class ``pd-short``, which the stylesheet keeps
  on one line; a value with its interval (``+0.24 [+0.01, +0.43]``) gets ``pd-ci``: it
  may break between the value and the interval, never inside either, so that a
  table of several intervals (the ranking table of the results page) fits the text
  column; a table still wider scrolls sideways in its own box.
* **Search from disk.** After the build, ``search/search_index.json`` is also written
  as ``search/search_index.js`` (``var __index = ...``), which Material's search loads
  when the site is opened from disk (a file:// page cannot fetch JSON);
  ``javascripts/file-worker.js`` runs the search worker there.
* **MathJax served by the site.** ``javascripts/mathjax/tex-svg.js`` is copied from the
  ``django-static-mathjax`` package (the ``docs`` extra) so that formulas render
  without fetching anything from a CDN, also offline.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.structure.files import File, Files

API_DIR = "api/"
ROOT_MODULE = "proxydata"
MATHJAX_SOURCE = "static/mathjax/es5/tex-svg.js"  # inside the ``mathjax`` package of django-static-mathjax
MATHJAX_URI = "javascripts/mathjax/tex-svg.js"

SHORT_CELL = re.compile(r"<td>([^<]{1,24})</td>")
CI_CELL = re.compile(r"<td>([^<\[\]]{1,16}?) (\[[^<\[\]]{1,32}\])</td>")

log = logging.getLogger("mkdocs.hooks.proxydata")


def nav_paths(nav: Any) -> Iterator[str]:
    """Every page path of a MkDocs ``nav`` setting, in order."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_paths(value)
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_paths(item)


def api_modules(nav: Any) -> list[str]:
    """The modules whose pages the navigation lists as ``api/<module>.md``, in order."""
    return [
        path[len(API_DIR) : -len(".md")]
        for path in nav_paths(nav)
        if path.startswith(API_DIR) and path.endswith(".md") and "/" not in path[len(API_DIR) :]
    ]


def shows_submodules(module: str, modules: list[str]) -> bool:
    """Whether ``module``'s page renders its submodules: when none has a page of its own."""
    return not any(other.startswith(module + ".") for other in modules)


SPHINX_ROLE = re.compile(r":[a-z]+:`~?(?:[^`<]*<)?([^`>]+)>?`")


def _first_line(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, one line, roles as code."""
    doc = (inspect.getdoc(obj) or "").strip().split("\n\n", 1)[0].replace("\n", " ")
    doc = SPHINX_ROLE.sub(lambda match: f"`{match.group(1).rpartition('.')[2]}`", doc)
    return doc.replace("|", "\\|")


def root_exports_table(repo: Path) -> str:
    """A Markdown table of the names ``proxydata`` exports, each linked to where it is documented.

    ``proxydata`` is imported from ``repo`` (the folder of mkdocs.yml, as mkdocstrings reads it),
    not from whichever copy is installed.
    """
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    proxydata = importlib.import_module(ROOT_MODULE)
    if not Path(proxydata.__file__).resolve().is_relative_to(repo.resolve()):
        log.warning("%s was imported from %s, not from %s", ROOT_MODULE, proxydata.__file__, repo)
    rows = ["| Name | What it is |", "| --- | --- |"]
    for name in sorted(proxydata.__all__, key=str.lower):
        if name.startswith("__"):
            continue
        rows.append(f"| [`{name}`][{ROOT_MODULE}.{name}] | {_first_line(getattr(proxydata, name))} |")
    return "\n".join(rows)


def api_page(module: str, modules: list[str], repo: Path) -> str:
    """The Markdown source of ``module``'s API page."""
    if module == ROOT_MODULE:
        return (
            f"::: {module}\n"
            "    options:\n"
            "      members: false\n"
            "      show_submodules: false\n\n"
            f"Every name below is importable from `{module}` itself; each links to the page "
            "of the module that documents it.\n\n" + root_exports_table(repo) + "\n"
        )
    submodules = "true" if shows_submodules(module, modules) else "false"
    return f"::: {module}\n    options:\n      show_submodules: {submodules}\n"


def mathjax_file(config: Any) -> File:
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    spec = importlib.util.find_spec("mathjax")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        source = Path(root) / MATHJAX_SOURCE
        if source.is_file():
            return File.generated(config, MATHJAX_URI, abs_src_path=str(source))
    raise PluginError(
        f"MathJax not found ({MATHJAX_SOURCE} of the 'mathjax' package): "
        "install the docs extra, pip install -e '.[docs]'"
    )


def on_files(files: Files, config: Any) -> Files:
    from mkdocs.structure.files import File

    modules = api_modules(config["nav"])
    repo = Path(config["config_file_path"]).parent
    for module in modules:
        uri = f"{API_DIR}{module}.md"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=api_page(module, modules, repo)))
    files.append(mathjax_file(config))
    return files


def mark_cells(html: str) -> str:
    """Table cells marked for the stylesheet: ``pd-ci`` (a value and its interval), ``pd-short``."""
    html = CI_CELL.sub(r'<td class="pd-ci"><span>\1</span> <span>\2</span></td>', html)
    return SHORT_CELL.sub(r'<td class="pd-short">\1</td>', html)


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    return mark_cells(html)


def write_search_index_script(site_dir: str | Path) -> bool:
    """``search/search_index.js`` from ``search/search_index.json``: the index a file:// page can load.

    Returns False when the build has no search index.
    """
    folder = Path(site_dir) / "search"
    index = folder / "search_index.json"
    if not index.is_file():
        return False
    (folder / "search_index.js").write_text(
        "var __index = " + index.read_text(encoding="utf-8"), encoding="utf-8"
    )
    return True


def on_post_build(config: Any) -> None:
    write_search_index_script(config["site_dir"])


# After the search plugin has written its index (what mkdocs.plugins.event_priority(-100) sets;
# MkDocs is not imported at module level, see the module docstring).
on_post_build.mkdocs_priority = -100  # type: ignore[attr-defined]
