"""Imports inside the ``zoo`` package flow one way: no cycle, whether imports sit at module level or in functions."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = "zoo"


def module_files(root: Path = REPO) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package (``__init__.py`` names its package)."""
    modules = {}
    for path in (root / PACKAGE).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


class _ImportCollector(ast.NodeVisitor):
    """Every imported name, at any depth, except under ``if TYPE_CHECKING:`` (never executed)."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module.split(".") if is_package else module.split(".")[:-1]
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package[: len(self.package) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        self.names.add(base)
        self.names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges ``importer -> imported module``; importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``.

    A module's own parent packages are left out: Python has started them before the module runs.
    """
    graph = {}
    for name, path in modules.items():
        collector = _ImportCollector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        targets = set()
        for imported in collector.names:
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            parts = imported.split(".") if imported else []
            targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules)
        graph[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_zoo_package_has_no_import_cycle():
    graph = import_graph(module_files())
    assert "zoo.eval.parzen" in graph and "zoo.eval.cache" in graph["zoo.eval.classifier"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_finds_function_level_and_package_cycles(tmp_path):
    (tmp_path / PACKAGE / "sub").mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "a.py").write_text("def f():\n    from zoo.sub import b\n")
    (tmp_path / PACKAGE / "sub" / "__init__.py").write_text("from zoo.sub.b import g\n")
    (tmp_path / PACKAGE / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import zoo.c\n")
    (tmp_path / PACKAGE / "c.py").write_text("from . import a\n")
    graph = import_graph(module_files(tmp_path))
    assert find_cycle(graph) is None  # b -> c only under TYPE_CHECKING; sub/__init__ -> its own child is fine
    (tmp_path / PACKAGE / "sub" / "b.py").write_text("def g():\n    import zoo.c\n")
    cycle = find_cycle(import_graph(module_files(tmp_path)))
    assert cycle is not None and cycle[0] == cycle[-1] and {"zoo.a", "zoo.sub.b", "zoo.c"} <= set(cycle)
