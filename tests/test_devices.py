"""Device names (one list for every face), the one ``auto`` rule, and two ONNX Runtime
builds installed side by side. The hardware is an injected probe: no test here depends on
whether the machine has a GPU."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

import pytest

from cutout import devices
from cutout.backends.onnx import OnnxBackend, _choose_providers
from cutout.cli.main import build_parser
from cutout.config import load_settings
from cutout.devices import (
    DEVICE_NAMES,
    check_device,
    onnxruntime_conflict,
    onnxruntime_distributions,
    resolve_device,
    select_device,
)
from cutout.errors import ConfigError, DeviceError
from cutout.models.inspyrenet.policy import QUALITIES
from cutout.models.registry import get_spec
from cutout.models.weights import embedded_path
from tests.conftest import REPO
from tests.probes import probe, unprobed


# -- names ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:12", "mps"])
def test_device_names(name: str) -> None:
    assert check_device(name) == name


@pytest.mark.parametrize("name", ["", "tpu", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "mps:0"])
def test_other_names_are_refused_with_the_list(name: str) -> None:
    with pytest.raises(DeviceError, match=r"use auto, cpu, cuda, cuda:N or mps"):
        check_device(name)


def test_settings_take_the_same_names() -> None:
    assert load_settings(device="cuda:1").device == "cuda:1"
    assert load_settings(device="mps").device == "mps"
    with pytest.raises(ConfigError, match=r"CUTOUT_DEVICE: .*unknown device 'cuda:x'"):
        load_settings(device="cuda:x")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOUT_DEVICE", "cuda:2")
    assert load_settings().device == "cuda:2"
    monkeypatch.setenv("CUTOUT_DEVICE", "tpu")
    with pytest.raises(ConfigError, match="CUTOUT_DEVICE"):
        load_settings()


def _flag(command: str, dest: str) -> argparse.Action:
    parser = build_parser()
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    return next(action for action in commands.choices[command]._actions if action.dest == dest)


_COMMANDS = ("remove", "serve", "bench")


def test_every_command_offers_the_same_device_and_quality_names() -> None:
    for command in _COMMANDS:
        device = _flag(command, "device")
        assert device.metavar == "{" + ",".join(DEVICE_NAMES) + "}", command
        assert device.type is not None
        for name in ("auto", "cpu", "cuda", "cuda:3", "mps"):
            assert device.type(name) == name  # type: ignore[operator]
        with pytest.raises(argparse.ArgumentTypeError, match="unknown device 'tpu'"):
            device.type("tpu")  # type: ignore[operator]
        assert tuple(_flag(command, "quality").choices or ()) == QUALITIES, command


def test_a_bad_device_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--device", "cuda:1"]).device == "cuda:1"
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["bench", "--device", "cuda:one"])
    assert exited.value.code == 2
    assert "unknown device 'cuda:one'" in capsys.readouterr().err


# -- the auto rule ----------------------------------------------------------------------
def test_auto_prefers_cuda_then_mps_then_cpu() -> None:
    assert select_device("auto", probe(cuda=True, mps=True)) == "cuda"
    assert select_device("auto", probe(mps=True)) == "mps"
    assert select_device("auto", probe()) == "cpu"
    assert select_device("cuda:1", probe(cuda=True)) == "cuda:1"
    assert select_device("cpu", probe(cuda=True)) == "cpu"
    assert resolve_device("auto", probe(cuda=True)) == "cuda"
    assert resolve_device("auto", probe(mps=True)) == "mps"
    assert resolve_device("auto", probe()) == "cpu"


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps", "tpu"])
def test_unavailable_or_unknown_device_is_a_device_error(requested: str) -> None:
    with pytest.raises(DeviceError, match=requested.split(":")[0]):
        select_device(requested, probe())


@pytest.mark.parametrize("requested", ["cpu", "cuda", "cuda:1", "mps"])
def test_a_named_device_is_resolved_without_probing(requested: str) -> None:
    assert resolve_device(requested, unprobed()) == requested


def test_importing_devices_imports_no_runtime() -> None:
    script = (
        "import sys, cutout.devices, cutout.config\n"
        "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- ONNX Runtime: providers and two builds side by side ---------------------------------
def _installed(*names: str) -> object:
    def version(name: str) -> str:
        if name not in names:
            raise metadata.PackageNotFoundError(name)
        return "1.0"

    return version


def test_installed_distributions_are_found_by_metadata() -> None:
    assert onnxruntime_distributions(_installed("onnxruntime")) == ("onnxruntime",)  # type: ignore[arg-type]
    both = onnxruntime_distributions(_installed("onnxruntime-gpu", "onnxruntime"))  # type: ignore[arg-type]
    assert both == ("onnxruntime", "onnxruntime-gpu")
    assert "onnxruntime" in onnxruntime_distributions()  # this environment's CPU build


def test_two_builds_are_named_with_the_way_out() -> None:
    assert onnxruntime_conflict(["onnxruntime"]) is None
    assert onnxruntime_conflict(["onnxruntime-gpu"]) is None
    message = onnxruntime_conflict(["onnxruntime", "onnxruntime-gpu"])
    assert message is not None
    assert "onnxruntime and onnxruntime-gpu are installed together" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in message


@pytest.fixture
def both_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        devices, "onnxruntime_distributions", lambda: ("onnxruntime", "onnxruntime-gpu")
    )


@pytest.fixture
def cpu_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "cutout.backends.onnx.available_providers", lambda: ("CPUExecutionProvider",)
    )


@pytest.mark.usefixtures("cpu_providers")
def test_cuda_without_a_provider_says_how_to_get_exactly_one_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devices, "onnxruntime_distributions", lambda: ("onnxruntime",))
    with pytest.raises(DeviceError) as caught:
        _choose_providers("cuda")
    message = caught.value.message
    assert "no CUDAExecutionProvider" in message
    assert "pip uninstall -y onnxruntime && pip install onnxruntime-gpu" in message
    assert "exactly one" in message


@pytest.mark.usefixtures("cpu_providers", "both_builds")
def test_cuda_with_both_builds_installed_names_the_conflict() -> None:
    with pytest.raises(DeviceError, match="installed together"):
        _choose_providers("cuda:1")


def test_cuda_n_picks_that_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "cutout.backends.onnx.available_providers",
        lambda: ("CUDAExecutionProvider", "CPUExecutionProvider"),
    )
    assert _choose_providers("cuda:1") == [
        ("CUDAExecutionProvider", {"device_id": "1"}),
        "CPUExecutionProvider",
    ]
    assert _choose_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert _choose_providers("cpu") == ["CPUExecutionProvider"]


@pytest.mark.usefixtures("both_builds")
def test_auto_on_the_cpu_because_of_two_builds_is_recorded_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = get_spec("u2netp")
    backend = OnnxBackend(spec, embedded_path(spec), device="auto", threads=1)
    with caplog.at_level("WARNING", logger="cutout.backends.onnx"):
        backend.load()
    try:
        assert backend.device.kind == "cpu"
        [line] = backend.device.fallbacks
        assert line.startswith("no CUDAExecutionProvider -> CPU: ")
        assert "installed together" in line
        assert "installed together" in caplog.text
    finally:
        backend.close()


def test_an_mps_request_on_onnx_runtime_is_not_silently_on_the_cpu() -> None:
    spec = get_spec("u2netp")
    backend = OnnxBackend(spec, embedded_path(spec), device="mps", threads=1)
    backend.load()
    try:
        assert backend.device.kind == "cpu"
        assert backend.device.fallbacks == ["ONNX Runtime has no Apple MPS provider -> CPU"]
    finally:
        backend.close()


@pytest.mark.usefixtures("both_builds")
def test_info_reports_two_builds(capsys: pytest.CaptureFixture[str]) -> None:
    from cutout.cli import info

    collected = info.collect()
    assert collected["onnxruntime_distributions"] == ["onnxruntime", "onnxruntime-gpu"]
    assert "installed together" in collected["onnxruntime_conflict"]
    assert info.run(argparse.Namespace(json=False)) == 0
    assert "onnxruntime WARNING\n  onnxruntime and onnxruntime-gpu" in capsys.readouterr().out
