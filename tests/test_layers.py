"""The bottom of the package stays at the bottom: options and what it needs import no layer
above them, so imaging, the engine, the server and the CLI can all read options without
a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cutout

SOURCE = Path(cutout.__file__).parent
# the modules everything else may import; they import only each other
BOTTOM = ("cutout.errors", "cutout.arrays", "cutout.colors", "cutout.options")


def _cutout_imports(module: str) -> set[str]:
    """Every cutout module ``module`` imports, anywhere in the file (lazy ones included)."""
    path = SOURCE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "cutout")
    return found


@pytest.mark.parametrize("module", BOTTOM)
def test_bottom_modules_import_only_each_other(module: str) -> None:
    assert _cutout_imports(module) <= set(BOTTOM), _cutout_imports(module) - set(BOTTOM)


def test_imaging_reads_options_and_options_never_reads_imaging() -> None:
    assert "cutout.options" in _cutout_imports("cutout.imaging.geometry")
    assert not any(name.startswith("cutout.imaging") for name in _cutout_imports("cutout.options"))
