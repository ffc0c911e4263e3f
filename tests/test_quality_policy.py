"""--quality / CUTOUT_QUALITY: the settings pick the InSPyReNet record for the hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutout.config import load_settings
from cutout.devices import resolve_device
from cutout.errors import ConfigError
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES


def test_auto_on_this_cpu_machine_is_the_fast_model() -> None:
    assert resolve_device("auto") == "cpu"  # no GPU on the test machines
    assert load_settings(quality="auto").model == "inspyrenet-fast"
    assert load_settings(quality="best").model == "inspyrenet-base"
    assert load_settings(quality="fast", device="cuda").model == "inspyrenet-fast"


def test_an_explicit_model_wins_over_quality(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(quality="auto", model="u2netp").model == "u2netp"
    monkeypatch.setenv("CUTOUT_MODEL", "u2netp")
    assert load_settings(quality="best").model == "u2netp"
    monkeypatch.delenv("CUTOUT_MODEL")
    monkeypatch.setenv("CUTOUT_QUALITY", "best")
    assert load_settings().model == "inspyrenet-base"


def test_bad_quality_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOUT_QUALITY", "ultra")
    with pytest.raises(ConfigError, match="CUTOUT_QUALITY"):
        load_settings()


def test_cli_quality_names_the_chosen_model_when_weights_are_missing(tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    result = cutout(
        "remove",
        EXAMPLES / "animal-1.jpg",
        "--quality",
        "auto",
        "-o",
        output,
        env={"CUTOUT_HOME": str(tmp_path / "home")},
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "cutout models pull inspyrenet-fast" in stderr
    assert not output.exists()
