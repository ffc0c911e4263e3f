"""cutout's modules import one way: no cycles, deferred imports included.

The graph is read from the source (``import`` statements anywhere in a module, also inside
functions), so a cycle hidden behind a function-level import is found as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

SOURCE = REPO / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in (SOURCE / "cutout").rglob("*.py")}


def _imported(name: str, path: Path) -> set[str]:
    """The cutout modules that ``name`` imports (a package's own ``__init__`` counts only
    when the import names the package itself, not one of its submodules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base] if base else kept)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif base in MODULES:
                    found.add(base)
    return found


GRAPH = {name: _imported(name, path) for name, path in MODULES.items()}


def _cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(GRAPH[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        yield sorted(component)


def test_the_graph_sees_deferred_imports() -> None:
    # cli/models.py imports the registry only inside its functions
    assert "cutout.models.registry" in GRAPH["cutout.cli.models"]
    assert "cutout.models.spec" in GRAPH["cutout.models.registry"]


def test_no_import_cycles() -> None:
    assert list(_cycles()) == []


def test_model_records_import_only_the_record_module() -> None:
    for family in ("cutout.models.u2netp", "cutout.models.inspyrenet_specs"):
        assert GRAPH[family] == {"cutout.models.spec"}, family
    assert GRAPH["cutout.models.spec"] == {"cutout.errors"}


def test_bottom_modules_import_nothing_above_them() -> None:
    bottom = {"cutout.arrays", "cutout.errors", "cutout.devices", "cutout.cpus"}
    for name in sorted(bottom & set(GRAPH)):
        assert GRAPH[name] <= bottom, f"{name} imports {GRAPH[name] - bottom}"
