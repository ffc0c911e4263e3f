"""--quality / CUTOUT_QUALITY: the engine picks the InSPyReNet record for the hardware.

The hardware is an injected probe, so the answers hold on any machine; loading the
settings never probes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cutout import devices
from cutout.config import load_settings
from cutout.devices import DeviceProbe
from cutout.engine import Engine, model_for_settings
from cutout.errors import ConfigError
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES
from tests.probes import probe, unprobed


def test_auto_on_a_cpu_machine_is_the_fast_model() -> None:
    cpu_only = probe()
    assert model_for_settings(load_settings(quality="auto"), cpu_only) == "inspyrenet-fast"
    assert model_for_settings(load_settings(quality="best"), cpu_only) == "inspyrenet-base"
    fast = load_settings(quality="fast", device="cuda")
    assert model_for_settings(fast, unprobed()) == "inspyrenet-fast"


def test_auto_on_a_gpu_machine_is_the_base_model() -> None:
    auto = load_settings(quality="auto")
    assert model_for_settings(auto, probe(cuda=True)) == "inspyrenet-base"
    assert model_for_settings(auto, probe(mps=True)) == "inspyrenet-base"
    # a named device is the device: no probing
    on_cuda = load_settings(quality="auto", device="cuda:1")
    assert model_for_settings(on_cuda, unprobed()) == "inspyrenet-base"
    on_cpu = load_settings(quality="auto", device="cpu")
    assert model_for_settings(on_cpu, unprobed()) == "inspyrenet-fast"


def test_the_engine_from_settings_runs_the_chosen_model() -> None:
    engine = Engine.from_settings(load_settings(quality="auto"), probe=probe(cuda=True))
    assert engine.spec.name == "inspyrenet-base"
    assert not engine.loaded


def test_an_explicit_model_wins_over_quality(monkeypatch: pytest.MonkeyPatch) -> None:
    named = load_settings(quality="auto", model="u2netp")
    assert model_for_settings(named, unprobed()) == "u2netp"
    monkeypatch.setenv("CUTOUT_MODEL", "u2netp")
    assert model_for_settings(load_settings(quality="best"), unprobed()) == "u2netp"
    monkeypatch.delenv("CUTOUT_MODEL")
    monkeypatch.setenv("CUTOUT_QUALITY", "best")
    assert model_for_settings(load_settings(), unprobed()) == "inspyrenet-base"


def test_no_model_and_no_quality_is_the_default_model() -> None:
    assert model_for_settings(load_settings(), unprobed()) == "u2netp"


def test_loading_settings_probes_no_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probing() -> DeviceProbe:
        raise AssertionError("load_settings probed the hardware")

    monkeypatch.setattr(devices, "default_probe", no_probing)
    settings = load_settings(quality="auto", device="auto")
    assert (settings.quality, settings.model) == ("auto", None)


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
        "--device",
        "cpu",  # the CPU whatever the machine has: auto on the CPU is the fast model
        "-o",
        output,
        env={"CUTOUT_HOME": str(tmp_path / "home")},
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "cutout models pull inspyrenet-fast" in stderr
    assert not output.exists()
