"""``require_gpu``: an engine that must run on a GPU never runs on the CPU, and says why.

The backend here is the fake one with a device it claims (a CUDA card) and a scripted
fallback to the CPU, as the torch backend records one after an out-of-memory error at
batch 1; the real ONNX backend on this machine (no GPU) covers "no GPU at all".
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from cutout.arrays import FloatArray
from cutout.backends.base import DeviceInfo
from cutout.backends.fake import FakeBackend
from cutout.config import load_settings
from cutout.devices import GPU_KINDS
from cutout.engine import Engine
from cutout.errors import ConfigError, DeviceError, GpuUnavailableError
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


class GpuBackend(FakeBackend):
    """The fake backend on an 'NVIDIA L4' that moves to the CPU when told to."""

    def __init__(self, *, kind: str = "cuda", fallbacks: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._device = DeviceInfo(kind=kind, name="NVIDIA L4", fallbacks=list(fallbacks))
        self.fall_back_on_next = False

    def predict(self, batch: FloatArray) -> FloatArray:
        result = super().predict(batch)
        if self.fall_back_on_next:
            self.fall_back_on_next = False
            self._device = DeviceInfo(
                kind="cpu",
                name="CPU (torch)",
                fallbacks=[*self._device.fallbacks, "cuda out of memory at batch 1 -> cpu"],
            )
        return result


def test_gpu_kinds_are_device_names() -> None:
    assert {"cuda", "mps"} == GPU_KINDS


def test_an_engine_on_a_gpu_loads_and_serves() -> None:
    backend = GpuBackend()
    engine = Engine(backend.spec, backend=backend, require_gpu=True)
    engine.load()
    engine.warmup()
    assert engine.gpu_problem() is None
    assert engine.remove(_png()).width == 64


def test_apple_mps_is_a_gpu_too() -> None:
    backend = GpuBackend(kind="mps")
    Engine(backend.spec, backend=backend, require_gpu=True).load()


def test_a_cpu_fallback_at_load_is_refused_with_the_reason() -> None:
    reason = "cuda failed to initialise (RuntimeError: CUDA driver version is insufficient) -> cpu"
    backend = GpuBackend(kind="cpu", fallbacks=(reason,))
    engine = Engine(backend.spec, backend=backend, require_gpu=True)
    with pytest.raises(GpuUnavailableError) as info:
        engine.load()
    assert isinstance(info.value, DeviceError)
    assert info.value.code == "gpu_unavailable"
    assert "runs on the CPU" in info.value.message and reason in info.value.message
    assert not engine.loaded
    with pytest.raises(GpuUnavailableError):  # never half-loaded: every use says so
        engine.remove(_png())
    assert backend.batches == []  # and nothing ran on the CPU


def test_without_require_gpu_the_cpu_fallback_still_serves() -> None:
    backend = GpuBackend(kind="cpu", fallbacks=("cuda failed to initialise -> cpu",))
    engine = Engine(backend.spec, backend=backend)
    assert engine.remove(_png()).width == 64
    assert engine.gpu_problem() is not None  # known, but not enforced


def test_a_fallback_during_warmup_is_refused() -> None:
    backend = GpuBackend()
    engine = Engine(backend.spec, backend=backend, require_gpu=True)
    engine.load()
    backend.fall_back_on_next = True
    with pytest.raises(GpuUnavailableError, match="out of memory at batch 1 -> cpu"):
        engine.warmup()


def test_a_fallback_at_run_time_fails_that_batch_and_runs_nothing_after() -> None:
    backend = GpuBackend()
    engine = Engine(backend.spec, backend=backend, require_gpu=True)
    prepared = engine.prepare(_png())
    assert len(engine.infer([prepared])) == 1
    backend.fall_back_on_next = True
    with pytest.raises(GpuUnavailableError, match="out of memory at batch 1 -> cpu"):
        engine.infer([prepared])
    ran = len(backend.batches)
    with pytest.raises(GpuUnavailableError):
        engine.infer([prepared])
    assert len(backend.batches) == ran  # refused before the forward


def test_onnx_without_a_cuda_provider_is_not_a_gpu() -> None:
    # this machine has no GPU: the embedded u2netp loads on ONNX Runtime's CPU provider
    engine = Engine("u2netp", device="auto", require_gpu=True)
    with pytest.raises(GpuUnavailableError) as info:
        engine.load()
    assert "u2netp runs on the CPU (CPUExecutionProvider)" in info.value.message
    assert "device 'auto' found no GPU it can use" in info.value.message


def test_settings_and_the_engine_they_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOUT_REQUIRE_GPU", "1")
    settings = load_settings()
    assert settings.require_gpu is True
    assert Engine.from_settings(settings).require_gpu is True
    monkeypatch.delenv("CUTOUT_REQUIRE_GPU")
    assert load_settings().require_gpu is False
    assert Engine.from_settings(load_settings()).require_gpu is False


def test_requiring_a_gpu_on_the_cpu_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"CUTOUT_REQUIRE_GPU: .*GPU is required.*cpu"):
        load_settings(require_gpu=True, device="cpu")
    assert load_settings(require_gpu=True, device="cuda:1").device == "cuda:1"


def test_the_cli_fails_with_one_line_when_no_gpu_is_there(tmp_path: Path) -> None:
    """This machine has no GPU: ``remove`` and ``bench`` refuse before any file is read."""
    out = tmp_path / "out.png"
    done = cutout("remove", "--require-gpu", EXAMPLES / "animal-1.jpg", "-o", out)
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutout: a GPU is required"), lines
    assert not out.exists()

    done = cutout(
        "bench", "--runs", "1", EXAMPLES / "animal-1.jpg", env={"CUTOUT_REQUIRE_GPU": "1"}
    )
    assert done.returncode == 1
    assert done.stderr.decode().startswith("cutout: a GPU is required")


class _NoCuda(FakeBackend):
    def load(self) -> None:
        raise DeviceError("device 'cuda' requested but torch sees no CUDA device")


def test_a_named_gpu_that_is_not_there_is_gpu_unavailable_too() -> None:
    """CUTOUT_DEVICE=cuda (as on Cloud Run) and no CUDA device: the backend's own error,
    reported as the required GPU that cannot be used."""
    backend = _NoCuda()
    with pytest.raises(GpuUnavailableError, match="cannot use one: device 'cuda' requested"):
        Engine(backend.spec, backend=backend, device="cuda", require_gpu=True).load()
    with pytest.raises(DeviceError) as plain:  # without the setting: the error as it was
        Engine(backend.spec, backend=backend, device="cuda").load()
    assert type(plain.value) is DeviceError
