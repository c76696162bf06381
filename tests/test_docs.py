"""The README and docs/ stay true: their Python blocks run, links resolve, the
test command is the one CI runs, the API map links only what exists, and the
documentation site covers every page and public module (its generated API pages
carry the docstrings).

A page whose code needs an optional extra says so in the first line of one of
its ```python blocks, ``# requires: datasets`` (several: ``# requires: lightning,
tensorboard``); the page's test is skipped, with that reason, when one is not
installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
REQUIRES = re.compile(r"#\s*requires:(.*)")
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def code_blocks(path: Path, language: str = "python") -> list[str]:
    """The bodies of the ```language fenced blocks of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def test_fence_parser_finds_blocks_by_language() -> None:
    text = "a\n```python\nx = 1\n```\n```text\nnot run\n```\n```python\ny = 2\n```\n"
    found = [(lang, body) for lang, body in FENCE.findall(text)]
    assert found == [("python", "x = 1\n"), ("text", "not run\n"), ("python", "y = 2\n")]


def required_modules(blocks: list[str]) -> list[str]:
    """Modules named by the ``# requires: a, b`` first lines of a page's blocks, in order."""
    modules: list[str] = []
    for block in blocks:
        marker = REQUIRES.fullmatch(block.split("\n", 1)[0].strip())
        if marker is None:
            continue
        names = [name.strip() for name in marker.group(1).split(",")]
        bad = [name for name in names if not MODULE_NAME.fullmatch(name)]
        if bad or not names:
            raise ValueError(f"malformed marker {block.splitlines()[0]!r}: expected '# requires: mod[, mod]'")
        modules += [name for name in names if name not in modules]
    return modules


def skip_unless_importable(path: Path, blocks: list[str]) -> None:
    """Skip the page's test when a module its marker requires is not installed."""
    for module in required_modules(blocks):
        pytest.importorskip(module, reason=f"{path.name} requires {module} ('# requires:' marker)")


def test_requires_marker_is_read_from_first_lines_only() -> None:
    blocks = [
        "# requires: datasets\nimport datasets\n",
        "x = 1\n# requires: not_this_one\n",
        "  # requires: lightning,  tensorboard , datasets\n",
    ]
    assert required_modules(blocks) == ["datasets", "lightning", "tensorboard"]
    assert required_modules(["import proxydata\n"]) == []
    with pytest.raises(ValueError, match="malformed marker"):
        required_modules(["# requires: lightning tensorboard\n"])


def test_a_missing_required_module_skips_the_page() -> None:
    with pytest.raises(pytest.skip.Exception, match="needs_no_such_module"):
        skip_unless_importable(Path("page.md"), ["# requires: os, needs_no_such_module\n"])
    skip_unless_importable(Path("page.md"), ["# requires: os, json\n"])  # installed: no skip


def _from_proxydata(value: object) -> bool:
    module = getattr(value, "__module__", None) or getattr(type(value), "__module__", "") or ""
    name = getattr(value, "__name__", "")
    return module.startswith("proxydata") or (isinstance(name, str) and name.startswith("proxydata"))


@pytest.mark.parametrize(
    "path", [p for p in DOC_FILES if code_blocks(p)], ids=lambda p: str(p.relative_to(REPO))
)
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block runs; the blocks of one page share a namespace, in order."""
    blocks = code_blocks(path)
    skip_unless_importable(path, blocks)
    monkeypatch.chdir(tmp_path)  # blocks may write files
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for k, block in enumerate(blocks):
        code = compile(block, f"{path.name}[python block {k + 1}]", "exec")
        exec(code, namespace)  # executing our own documentation is the point
    # the page's code used the library: some name it bound comes from proxydata
    used = [name for name, value in namespace.items() if _from_proxydata(value)]
    assert used, f"{path.name}: its python blocks never touch proxydata"


def test_every_doc_page_is_checked() -> None:
    names = {p.relative_to(REPO).as_posix() for p in DOC_FILES}
    for required in (
        "README.md",
        "docs/index.md",
        "docs/user_guide.md",
        "docs/api.md",
        *(f"docs/methods/{m}.md" for m in ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl", "bdp")),
    ):
        assert required in names


def test_relative_links_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
    missing = []
    for path in [*DOC_FILES, REPO / "CHANGELOG.md"]:
        for target, _ in link.findall(path.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(REPO)} -> {target}")
    assert missing == []


def _block_after(marker: str) -> str:
    """The ```bash block after ``marker`` in README.md, parsed as .ci/run does."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    found = grab = False
    out: list[str] = []
    for line in lines:
        if not found:
            found = marker in line
            continue
        if not grab:
            grab = line.startswith("```bash")
            continue
        if line.startswith("```"):
            break
        out.append(line)
    return "\n".join(out)


def test_readme_test_command_is_what_ci_runs() -> None:
    command = _block_after("<!-- test-command -->")
    assert "pytest" in command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci and "README.md" in ci
    awk = re.search(r'cmd="\$\((awk .*README\.md)\)"', ci)
    assert awk, "the extraction line of .ci/run changed; update this test"
    if shutil.which("awk") is None or shutil.which("bash") is None:
        pytest.skip("awk/bash not available to replay .ci/run's extraction")
    replay = subprocess.run(
        ["bash", "-c", awk.group(1)], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert replay.stdout.rstrip("\n") == command


def test_readme_docs_command_builds_strictly_and_ci_builds_after_the_tests() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- docs-command -->") == 1
    docs = _block_after("<!-- docs-command -->")
    assert len(docs.splitlines()) == 1 and '".[docs]"' in docs
    assert docs.rstrip().endswith("mkdocs build --strict")
    test = _block_after("<!-- test-command -->")
    assert "docs" in re.search(r'-e "\.\[([\w,]+)\]"', test).group(1).split(",")
    assert test.index("pytest") < test.index("mkdocs build --strict")
    assert test.rstrip().endswith("mkdocs build --strict")


def test_readme_has_two_setup_commands_and_the_main_job_is_the_demo() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- main-command -->") == 1 and text.count("<!-- test-command -->") == 1
    main_command = _block_after("<!-- main-command -->")
    assert len(main_command.splitlines()) == 1 and main_command.rstrip().endswith("proxydata demo")
    assert len(_block_after("<!-- test-command -->").splitlines()) == 1


API_MAP = REPO / "docs" / "api.md"
AUTOREF = re.compile(r"\]\[(proxydata[\w.]*)\]")
NAV_PAGE = re.compile(r"^\s*-\s+[^:]+:\s+(\S+\.md)\s*$", re.M)


def _resolve_dotted(dotted: str) -> object:
    """The object a dotted path names: the longest importable module, then attributes.

    A module is found without importing it (``proxydata.integrations.nni`` needs NNI).
    """
    try:
        if importlib.util.find_spec(dotted) is not None:
            return dotted
    except ModuleNotFoundError:
        pass
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            value = getattr(value, attr)
        return value
    raise ImportError(dotted)


def test_api_map_links_name_objects_that_exist() -> None:
    names = AUTOREF.findall(API_MAP.read_text(encoding="utf-8"))
    assert len(names) > 40
    missing = []
    for dotted in names:
        try:
            _resolve_dotted(dotted)
        except (ImportError, AttributeError):
            missing.append(dotted)
    assert missing == []


def test_api_map_repeats_no_signatures() -> None:
    # the signatures live in the generated pages (docstrings); the map only links to them
    text = API_MAP.read_text(encoding="utf-8")
    assert not re.search(r"^#{2,} `proxydata", text, re.M), "per-object headings are back"
    signature = re.compile(r"`[A-Za-z_][\w.]*\([^`)]*[=,][^`]*\)(\s*->[^`]*)?`")
    assert signature.findall(text) == []
    assert len(text.splitlines()) < 200


def _hooks() -> Any:
    """docs/_ext/hooks.py (it imports MkDocs only inside its hooks)."""
    spec = importlib.util.spec_from_file_location("proxydata_docs_hooks", REPO / "docs" / "_ext" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages() -> list[str]:
    return NAV_PAGE.findall((REPO / "mkdocs.yml").read_text(encoding="utf-8"))


def _public_modules() -> list[str]:
    import proxydata

    found = ["proxydata"]
    for info in pkgutil.walk_packages(proxydata.__path__, "proxydata."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return found


def test_every_public_module_has_an_api_page() -> None:
    hooks = _hooks()
    pages = hooks.api_modules(_nav_pages())
    assert pages[0] == "proxydata" and len(pages) == len(set(pages))
    for module in pages:  # a page for a module that does not exist would render nothing
        assert importlib.util.find_spec(module) is not None, module

    def covered(module: str) -> bool:
        # its own page, or the page of a package that shows its submodules
        return module in pages or any(
            module.startswith(page + ".") and hooks.shows_submodules(page, pages) for page in pages
        )

    uncovered = [module for module in _public_modules() if not covered(module)]
    assert uncovered == [], "add a line 'api/<module>.md' to the nav of mkdocs.yml"


def test_every_doc_page_is_in_the_site_navigation() -> None:
    pages = set(_nav_pages())
    markdown = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert markdown - pages == set()


@pytest.fixture(scope="module")
def built_api_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The samplers and pruning API pages, built by MkDocs with the site's configuration.

    Only these two pages are built (a few seconds), so links into other pages are
    unresolved here; the README's docs command builds the whole site strictly.
    """
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path_factory.mktemp("site")
    pages = ["api/proxydata.samplers.md", "api/proxydata.pruning.md"]
    config = load_config(config_file=str(REPO / "mkdocs.yml"), site_dir=str(site), strict=False, nav=pages)
    build(config)
    return {page: (site / page.replace(".md", ".html")).read_text(encoding="utf-8") for page in pages}


def _section(html: str, anchor: str) -> str:
    """The HTML of the object documented under ``id=anchor``, up to the next object of its level."""
    start = html.index(f'id="{anchor}"')
    level = html.rfind("<h", 0, start)
    tag = html[level : level + 3]
    end = html.find(tag + " ", start)
    return html[start : end if end > 0 else len(html)]


@pytest.mark.parametrize(
    ("page", "anchor", "name"),
    [
        ("api/proxydata.pruning.md", "proxydata.pruning.BiLevelPruner", "BiLevelPruner"),
        ("api/proxydata.samplers.md", "proxydata.samplers.ClassOutlierProxy", "ClassOutlierProxy"),
        ("api/proxydata.samplers.md", "proxydata.samplers.KMeansOutlierProxy", "KMeansOutlierProxy"),
    ],
)
def test_generated_api_page_carries_the_docstring(
    built_api_pages: dict[str, str], page: str, anchor: str, name: str
) -> None:
    import html as html_module
    import inspect

    import proxydata

    obj = getattr(proxydata, name)
    section = _section(built_api_pages[page], anchor)
    text = html_module.unescape(re.sub(r"<[^>]+>", "", section))
    summary = inspect.getdoc(obj).split("\n\n", 1)[0].replace("\n", " ")
    summary = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rpartition(".")[2], summary)
    assert " ".join(summary.split()) in " ".join(text.split())
    parameters = [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
    assert len(parameters) >= 5
    table = section[section.index("Parameters") :]
    for parameter in parameters:
        assert f"<code>{parameter}</code>" in table, f"{name}: parameter {parameter} not in the table"
    assert ":class:`" not in section and ":func:`" not in section and ":meth:`" not in section


def test_sphinx_roles_become_links(built_api_pages: dict[str, str]) -> None:
    page = built_api_pages["api/proxydata.pruning.md"]
    module_doc = page[: page.index('id="proxydata.pruning.BiLevelPruner"')]
    # ":class:`SplitState`" and ":mod:`.history`" in the package docstring, resolved in its scope
    assert 'href="#proxydata.pruning.SplitState"' in module_doc
    assert 'href="#proxydata.pruning.history"' in module_doc


def test_docs_name_no_absolute_local_paths() -> None:
    # the docs must work on a fresh machine: no paths of this one
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and os.path.expanduser("~") + "/" not in text, path
