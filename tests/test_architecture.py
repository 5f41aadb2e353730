"""The code's shape (docs/architecture.md): no import cycle between files, and no file over
500 lines or function over 60 under src/ (migrations aside).

The import rules between packages (kit imports no part, the gateway no product, no product
another's models, no cycle between packages at any level) are import-linter contracts in
pyproject.toml, checked by ``make lint``; ``test_the_import_contracts_are_kept`` runs them too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src" / "fluide"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60

# Offenders in code other branches of issue 15 are reworking, known when this test landed; the
# lead removes this list when they merge. Nothing may be added to it.
KNOWN: dict[str, str] = {}


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations/versions" not in p.as_posix())


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """Every function and method with its qualified name and length in lines."""
    found: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + node.name
            assert node.end_lineno is not None
            found.append((name, node.end_lineno - node.lineno + 1))
            found.extend(_functions(node, name + "."))
        elif isinstance(node, ast.ClassDef):
            found.extend(_functions(node, prefix + node.name + "."))
    return found


def oversized() -> list[str]:
    problems = []
    for path in _sources():
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            problems.append(f"{rel} ({lines} lines)")
        for name, length in _functions(ast.parse(text)):
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{rel}:{name} ({length} lines)")
    return problems


def test_no_file_over_500_lines_and_no_function_over_60() -> None:
    unknown = [p for p in oversized() if p.split(" (")[0] not in KNOWN]
    assert unknown == []


def test_the_size_check_sees_an_oversized_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class C:\n  def f(self):\n{body}\n")
    assert _functions(tree) == [("C.f", MAX_FUNCTION_LINES + 1)]


def _cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The import cycles between modules: strongly connected components of more than one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:  # Tarjan; the graph is a few hundred modules deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_files() -> None:
    graph = grimp.build_graph("fluide", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [{"p.a", "p.b", "p.c"}]


def test_the_import_contracts_are_kept() -> None:
    # In a process of its own: import-linter's command line reconfigures logging (it would
    # silence the loggers of the tests that run after this one).
    lint_imports = Path(sys.executable).with_name("lint-imports")
    repo = SRC.parents[1]
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:]
