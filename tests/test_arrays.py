"""One alias per dtype: ``cutout.arrays`` is the only module that defines them."""

from __future__ import annotations

import ast

from tests.conftest import REPO


def test_the_array_aliases_are_defined_once() -> None:
    defined: dict[str, list[str]] = {}
    for path in sorted((REPO / "src" / "cutout").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("FloatArray", "ByteArray"):
                    defined.setdefault(target.id, []).append(path.name)
    assert defined == {"FloatArray": ["arrays.py"], "ByteArray": ["arrays.py"]}
