"""The README and docs/ stay true: their Python blocks run, links resolve, the
test command is the one CI runs, and the API page names only what exists.

A page whose code needs an optional extra says so in the first line of one of
its ```python blocks, ``# requires: datasets`` (several: ``# requires: lightning,
tensorboard``); the page's test is skipped, with that reason, when one is not
installed.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

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


def test_readme_has_two_setup_commands_and_the_main_job_is_the_demo() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- main-command -->") == 1 and text.count("<!-- test-command -->") == 1
    main_command = _block_after("<!-- main-command -->")
    assert len(main_command.splitlines()) == 1 and main_command.rstrip().endswith("proxydata demo")
    assert len(_block_after("<!-- test-command -->").splitlines()) == 1


def _api_names() -> list[str]:
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    return re.findall(r"^### `(proxydata[\w.]*)`", text, re.M)


def test_api_page_names_exist() -> None:
    names = _api_names()
    assert len(names) > 40
    missing = []
    for dotted in names:
        module, _, attr = dotted.rpartition(".")
        try:
            if not hasattr(importlib.import_module(module), attr):
                missing.append(dotted)
        except ImportError:
            missing.append(dotted)
    assert missing == []


def test_api_page_covers_the_top_level_exports() -> None:
    import proxydata

    documented = {name.rpartition(".")[2] for name in _api_names()}
    assert set(proxydata.__all__) - {"__version__"} <= documented


def test_docs_name_no_absolute_local_paths() -> None:
    # the docs must work on a fresh machine: no paths of this one
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and os.path.expanduser("~") + "/" not in text, path
