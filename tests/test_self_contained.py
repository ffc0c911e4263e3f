"""The library's code and docstrings read on their own: nothing points outside the
repository (the team's shared folder, notes of the work that produced it)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

_CORE = ["models", "backends", "imaging", "config.py", "devices.py", "engine.py", "cpus.py"]


@pytest.mark.parametrize("part", _CORE)
def test_no_references_outside_the_repository(part: str) -> None:
    root = REPO / "src" / "cutout" / part
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for outside in ("../shared", "shared/facts", "shared/fixtures", "the issue"):
            assert outside not in text, f"{path.relative_to(REPO)} mentions {outside!r}"
