"""No import circle among the modules of benchmarks/ (imports inside functions counted; issue 21)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BENCH).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _local_imports(path: Path, local: set[str]) -> set[str]:
    """The benchmarks modules ``path`` imports anywhere in its body (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in local and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for p in BENCH.rglob("*.py") if "results" not in p.parts]
    local = {_module_name(p) for p in files}
    return {_module_name(p): _local_imports(p, local) for p in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    graph = _graph()
    assert "report.records" in graph["report.page"] or "report.records" in graph["report.tables"]
    assert "report.page" in graph["reproduce"]  # imported inside main(): counted
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_circle_in_benchmarks() -> None:
    assert _cycle(_graph()) is None


def test_report_and_lower_layers_never_import_the_runner() -> None:
    graph = _graph()
    for name, imports in graph.items():
        if name.startswith("report") or name in ("suites", "provenance"):
            assert "reproduce" not in imports, name
    assert not graph["suites"] and not graph["provenance"]  # the lowest layer imports nothing local
