"""The package's floor plan: no import cycle among asyncsim's modules nor among its folders (a
module imports from its own floor or below), no module above 800 lines.

Every import statement counts, wherever it stands: at the top, inside a function, under
``if TYPE_CHECKING:``. An import names a module (``import asyncsim.x``, ``from asyncsim.x import
y``, ``from . import y``, ``from asyncsim import x``: x or y when it is a module of the package,
else the module the name is imported from).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asyncsim"
MAX_LINES = 800


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, whether it is a package's ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _owner(name: str, known: dict) -> str | None:
    """The module that defines ``name`` (itself, or the nearest enclosing module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.AST, module: str, is_package: bool, known: dict) -> set[str]:
    """The package's modules an import statement names."""
    if isinstance(node, ast.Import):
        return {_owner(alias.name, known) for alias in node.names} - {None}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:
        base = (module if is_package else module.rpartition(".")[0]).split(".")
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    targets = set()
    for alias in node.names:
        full = f"{source}.{alias.name}"
        targets.add(full if full in known else _owner(source, known))
    return targets - {None}


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (any import statement anywhere in it)."""
    known = modules()
    graph = {}
    for module, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = set()
        for node in ast.walk(tree):
            edges |= _imported(node, module, is_package, known)
        graph[module] = edges - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
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
    return found


def test_cycle_finder_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_kind_of_import_statement_counts(tmp_path: Path) -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
from . import tables
from ..engine import cluster
from asyncsim.run import runner
from asyncsim import __version__
if TYPE_CHECKING:
    from asyncsim.run.sweep import SweepPoint
def late():
    import asyncsim.analysis.fitting
"""
    known = modules()
    edges = set()
    for node in ast.walk(ast.parse(source)):
        edges |= _imported(node, "asyncsim.analysis.report", False, known)
    expected = {"asyncsim.analysis.tables", "asyncsim.engine.cluster", "asyncsim.run.runner"}
    assert edges - {"asyncsim", "asyncsim.run"} == expected | {
        "asyncsim.run.sweep",
        "asyncsim.analysis.fitting",
    }


def test_no_import_cycle_among_the_modules() -> None:
    found = cycles(import_graph())
    assert found == [], f"import cycles: {found}"


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Folder (``asyncsim.store``) → the folders its modules import; a module directly under
    ``asyncsim`` (``asyncsim.theory``) stands for itself."""

    def folder(module: str) -> str:
        return ".".join(module.split(".")[:2])

    folders: dict[str, set[str]] = {}
    for module, imported in graph.items():
        edges = folders.setdefault(folder(module), set())
        edges |= {folder(target) for target in imported} - {folder(module)}
    return folders


def test_a_folder_cycle_through_one_import_in_a_function_is_found() -> None:
    graph = {
        "asyncsim.store.recorded": {"asyncsim.analysis.bounds"},
        "asyncsim.analysis.bounds": {"asyncsim.store.run_data", "asyncsim.theory"},
        "asyncsim.store.run_data": set(),
        "asyncsim.theory": set(),
    }
    assert cycles(folder_graph(graph)) == [["asyncsim.analysis", "asyncsim.store"]]
    del graph["asyncsim.store.recorded"]
    assert cycles(folder_graph(graph)) == []


def test_no_import_cycle_among_the_folders() -> None:
    found = cycles(folder_graph(import_graph()))
    assert found == [], f"folders importing each other: {found}"


def _long_modules() -> dict[str, int]:
    """Module → its line count, for those above MAX_LINES."""
    counts = {}
    for module, (path, _) in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            counts[module] = lines
    return counts


def test_no_module_above_800_lines() -> None:
    assert _long_modules() == {}
