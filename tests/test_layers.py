"""The package's shape: no import circle, the layer order of ``proxydata/__init__.py``, small rooms.

Every module of ``proxydata/`` is parsed with :mod:`ast` (nothing is imported):
imports at module level and inside functions, ``from . import x`` and relative
imports resolved to the module they name. On that graph:

- no import circle (a strongly connected component of more than one module,
  or a module importing itself);
- the layer order written in the package docstring holds: a module never
  imports a module of a higher layer;
- no module over 500 lines, no class over 250 and no function over 60, not
  counting docstrings and comment lines.

What is known to break these today is listed once, in ``KNOWN_CIRCLES``,
``KNOWN_LAYER_BREACHES`` and ``KNOWN_OVERSIZED``; a fixed entry fails the run
(one test per list checks that every entry still breaks the rule) until it is
removed from the list, and anything not listed fails at once.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "proxydata"
ROOT = "proxydata"

# ---------------------------------------------------------------------------------------------
# The known exceptions: the one place to list them (each is checked to still break below).
# ---------------------------------------------------------------------------------------------

#: Import circles still to be broken, each as the set of its modules.
KNOWN_CIRCLES: tuple[frozenset[str], ...] = ()

#: Imports of a higher layer still to be removed, as (importer, imported).
KNOWN_LAYER_BREACHES: tuple[tuple[str, str], ...] = ()

#: Rooms still over their size, as (module, qualified name or "" for the module itself).
KNOWN_OVERSIZED: tuple[tuple[str, str], ...] = (
    # grown by the integrity checks of issue 29 and the two arms of issue 28; to be split next
    ("proxydata.feature_files", ""),
    ("proxydata.feature_files", "_prepare"),
    ("proxydata.fidelity.agreement", "study_agreement"),
    ("proxydata.fidelity.study", "ranking_study"),
)

MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60


# ---------------------------------------------------------------------------------------------
# The module graph
# ---------------------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__.py``)."""
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


@cache
def _tree(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _resolve(importer: str, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``importer``."""
    if level == 0:
        return target or ""
    parts = importer.split(".")
    package = parts if modules()[importer].name == "__init__.py" else parts[:-1]
    if level - 1 >= len(package):
        raise AssertionError(f"{importer}: relative import beyond the top package")
    anchor = package[: len(package) - (level - 1)]
    return ".".join([*anchor, target] if target else anchor)


def _inside(name: str) -> str | None:
    """The package module an absolute name stands for: the longest existing prefix, or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules():
            return candidate
        parts.pop()
    return None


@cache
def imports_of(importer: str) -> frozenset[str]:
    """The package modules ``importer`` imports anywhere in its code (functions included).

    ``from X import n`` counts as an import of ``X.n`` when that is a module,
    else of ``X``; imports under ``if TYPE_CHECKING:`` count too (they are
    circles the moment anything evaluates them), and so do
    ``importlib.import_module`` / ``__import__`` of a literal name. Parent
    packages a dotted import runs on the way are not counted: they are the
    package's facades.
    """
    found: set[str] = set()
    for node in ast.walk(_tree(importer)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(importer, node.level, node.module)
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [name if name in modules() else base for name in names]
        elif _dynamic_import(node):
            names = [node.args[0].value]  # type: ignore[attr-defined]
        else:
            continue
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                module = _inside(name)
                if module is not None and module != importer:
                    found.add(module)
    return frozenset(found)


def _dynamic_import(node: ast.AST) -> bool:
    """``importlib.import_module("...")`` or ``__import__("...")`` of a literal absolute name."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    return (
        name in ("import_module", "__import__")
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
    )


def graph() -> dict[str, frozenset[str]]:
    return {name: imports_of(name) for name in modules()}


def circles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def cycle_path(component: list[str], edges: dict[str, frozenset[str]]) -> list[str]:
    """One concrete circle through the component, as ``[a, b, ..., a]`` (for the report)."""
    members = set(component)
    start = component[0]
    # breadth-first from start back to start, within the component
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle through {component}")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# The layer order, read from the package docstring
# ---------------------------------------------------------------------------------------------


@cache
def layers() -> list[list[str]]:
    """The layers of the package docstring's ``Layers`` block, lowest first.

    Each numbered line of the section after ``Layers`` is ``<n>. name, name, ...``
    (then ``— what they do``); a name is a module or subpackage directly under
    ``proxydata``.
    """
    doc = ast.get_docstring(_tree(ROOT)) or ""
    _, found, section = doc.partition("\nLayers\n------\n")
    assert found, "the package docstring of proxydata/__init__.py must have a 'Layers' section"
    out = []
    for line in section.splitlines():
        item = re.match(r"(\d+)\.\s+(.*?)(?:\s+—\s+.*)?$", line)
        if item:
            assert int(item.group(1)) == len(out) + 1, f"layers must be numbered 1, 2, ...: {line!r}"
            out.append([name.strip(" `") for name in item.group(2).split(",")])
    assert out, "the 'Layers' section lists no layer"
    return out


def layer_of(module: str) -> int | None:
    """The layer of a module (a subpackage's modules share its layer); None for the facade itself."""
    if module == ROOT:
        return None
    top = module.split(".")[1]
    for number, names in enumerate(layers()):
        if top in names:
            return number
    raise AssertionError(f"{module} is in no layer of the package docstring: add {top!r} to one")


def layer_breaches(edges: dict[str, frozenset[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` where the imported module's layer is higher, or is the root facade."""
    out = []
    for importer, targets in edges.items():
        own = layer_of(importer)
        for target in sorted(targets):
            theirs = layer_of(target)
            if own is None:
                continue  # the facade may import any layer
            if theirs is None or theirs > own:
                out.append((importer, target))
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    module: str
    qualname: str  # "" for the module itself
    kind: str  # "module", "class" or "function"
    lines: int

    @property
    def limit(self) -> int:
        return {"module": MAX_MODULE_LINES, "class": MAX_CLASS_LINES, "function": MAX_FUNCTION_LINES}[
            self.kind
        ]


def _docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers of every docstring in ``tree`` (module, classes, functions, nested ones)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                out.update(range(body[0].lineno, body[0].end_lineno + 1))
    return out


def _comment_lines(source: str) -> set[int]:
    """Line numbers holding nothing but a comment."""
    code_lines: set[int] = set()
    comment_lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comment_lines.add(tok.start[0])
        elif tok.type not in skip:
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    return comment_lines - code_lines


@cache
def sizes() -> list[Size]:
    """Lines of every module, class and function (nested ones too), docstrings and comments not counted.

    A room's size is ``end_lineno - lineno + 1`` (from its ``def``/``class``
    line, decorators excluded) minus the docstring and comment-only lines in it.
    """
    out = []
    for name, path in modules().items():
        source = path.read_text(encoding="utf-8")
        tree = _tree(name)
        not_counted = _docstring_lines(tree) | _comment_lines(source)

        def count(first: int, last: int, not_counted: set[int] = not_counted) -> int:
            return sum(1 for n in range(first, last + 1) if n not in not_counted)

        out.append(Size(name, "", "module", count(1, len(source.splitlines()))))

        def visit(node: ast.AST, prefix: str, name: str = name, count=count) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    kind = "class" if isinstance(child, ast.ClassDef) else "function"
                    qualname = f"{prefix}{child.name}"
                    out.append(Size(name, qualname, kind, count(child.lineno, child.end_lineno)))
                    visit(child, qualname + ".")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return out


def oversized() -> list[Size]:
    return [s for s in sizes() if s.lines > s.limit]


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


def test_every_module_parses_and_has_a_layer() -> None:
    assert len(modules()) > 20
    for name in modules():
        layer_of(name)  # raises for a module missing from the docstring's layers


def test_layers_are_declared_once() -> None:
    names = [n for layer in layers() for n in layer]
    assert len(names) == len(set(names)), f"a name appears in two layers: {names}"
    tops = {m.split(".")[1] for m in modules() if m != ROOT}
    assert set(names) == tops, f"declared but missing: {set(names) - tops}; undeclared: {tops - set(names)}"


def test_no_new_import_circle() -> None:
    edges = graph()
    found = {frozenset(c) for c in circles(edges)}
    new = [sorted(c) for c in found - set(KNOWN_CIRCLES)]
    assert not new, "new import circle(s): " + "; ".join(
        " -> ".join(cycle_path(c, edges)) for c in sorted(new)
    )


def test_known_circles_are_still_there() -> None:
    # Each entry of KNOWN_CIRCLES must still be a circle: remove an entry once its circle is gone.
    found = {frozenset(c) for c in circles(graph())}
    gone = [sorted(c) for c in KNOWN_CIRCLES if c not in found]
    assert not gone, f"no longer circles, remove from KNOWN_CIRCLES: {gone}"


def test_no_new_layer_breach() -> None:
    new = [b for b in layer_breaches(graph()) if b not in KNOWN_LAYER_BREACHES]
    assert not new, "imports of a higher layer (see the layer order in proxydata/__init__.py): " + "; ".join(
        f"{a} imports {b}" for a, b in new
    )


def test_known_layer_breaches_are_still_there() -> None:
    # Each entry of KNOWN_LAYER_BREACHES must still be a breach: remove an entry once it is fixed.
    found = set(layer_breaches(graph()))
    gone = [b for b in KNOWN_LAYER_BREACHES if b not in found]
    assert not gone, f"no longer breaches, remove from KNOWN_LAYER_BREACHES: {gone}"


def test_no_new_oversized_room() -> None:
    new = [s for s in oversized() if (s.module, s.qualname) not in KNOWN_OVERSIZED]
    assert not new, "over the size limits: " + "; ".join(
        f"{s.kind} {s.module}{':' + s.qualname if s.qualname else ''} has {s.lines} lines (limit {s.limit})"
        for s in new
    )


def test_known_oversized_rooms_are_still_big() -> None:
    # Each entry of KNOWN_OVERSIZED must still be over a limit: remove an entry once it is small.
    found = {(s.module, s.qualname) for s in oversized()}
    gone = [r for r in KNOWN_OVERSIZED if r not in found]
    assert not gone, f"within the limits now, remove from KNOWN_OVERSIZED: {gone}"


# ---------------------------------------------------------------------------------------------
# The machinery itself, on hand-made cases
# ---------------------------------------------------------------------------------------------


def test_circles_finds_components_and_a_path() -> None:
    edges = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a", "d"}),
        "d": frozenset(),
        "e": frozenset({"f"}),
        "f": frozenset({"e"}),
    }
    assert circles(edges) == [["a", "b", "c"], ["e", "f"]]
    assert cycle_path(["a", "b", "c"], edges) == ["a", "b", "c", "a"]
    assert circles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_relative_imports_resolve() -> None:
    assert _resolve("proxydata.nas.search", 1, "enas") == "proxydata.nas.enas"
    assert _resolve("proxydata.nas.search", 2, "exceptions") == "proxydata.exceptions"
    assert _resolve("proxydata.nas", 1, "search") == "proxydata.nas.search"
    assert _resolve("proxydata.nas", 2, None) == "proxydata"
    assert _resolve("proxydata.experiment", 1, "nas.train") == "proxydata.nas.train"
    assert _resolve("proxydata.fidelity", 1, "study") == "proxydata.fidelity.study"
    assert "proxydata.nas.spaces.nb201.train" in imports_of("proxydata.fidelity.architectures")


def test_function_level_imports_count() -> None:
    # cli's commands import the experiment inside their functions
    assert "proxydata.experiment" in imports_of("proxydata.cli.search_command")


def test_dynamic_imports_of_literal_names_count() -> None:
    call = ast.parse('importlib.import_module("proxydata.nas")').body[0].value  # type: ignore[attr-defined]
    assert _dynamic_import(call)
    assert not _dynamic_import(ast.parse("import_module(name)").body[0].value)  # type: ignore[attr-defined]


def test_sizes_leave_out_docstrings_and_comments() -> None:
    source = 'def f():\n    """Doc\n\n    more.\n    """\n    # note\n    x = 1\n\n    return x\n'
    tree = ast.parse(source)
    not_counted = _docstring_lines(tree) | _comment_lines(source)
    assert not_counted == {2, 3, 4, 5, 6}
    span = range(tree.body[0].lineno, tree.body[0].end_lineno + 1)
    assert sum(1 for n in span if n not in not_counted) == 4  # def, x = 1, the blank line, return
