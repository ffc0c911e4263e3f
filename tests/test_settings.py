"""Settings: the one reader of the environment, and values that have one source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cutout.config import Settings, load_settings
from tests.conftest import REPO


def test_home_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUTOUT_HOME", str(tmp_path))
    assert load_settings().home == tmp_path
    monkeypatch.setenv("CUTOUT_HOME", "~/x")
    assert load_settings().home == Path.home() / "x"
    assert load_settings(home=tmp_path / "flag").home == tmp_path / "flag"


def test_home_defaults_to_the_user_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUTOUT_HOME", raising=False)
    assert load_settings().home.name == "cutout"
    assert Settings().home == load_settings().home


def test_cpu_runtime_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout.engine import Engine
    from cutout.errors import ConfigError

    assert load_settings().cpu_runtime == "auto"
    monkeypatch.setenv("CUTOUT_CPU_RUNTIME", "torch")
    settings = load_settings(model="inspyrenet-fast")
    assert Engine.from_settings(settings).cpu_runtime == "torch"
    monkeypatch.setenv("CUTOUT_CPU_RUNTIME", "tensorflow")
    with pytest.raises(ConfigError, match="CUTOUT_CPU_RUNTIME"):
        load_settings()


def test_only_config_reads_the_environment() -> None:
    readers = []
    for path in sorted((REPO / "src" / "cutout").rglob("*.py")):
        if path.name == "config.py" and path.parent.name == "cutout":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert readers == []


def test_production_settings_hold_no_test_hooks() -> None:
    # tests serve the fake backend through tests/server/fake_serve.py instead
    assert [name for name in Settings.model_fields if "test" in name or "fake" in name] == []
