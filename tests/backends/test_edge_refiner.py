"""Which path the engine's edge stage takes: torch beside a model on a GPU, the numpy one
beside a model on the CPU; and a failing GPU path falls back to the CPU per image.

A fake backend reports the device kind; the CPU build of torch stands in for the GPU.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from tests.transparent import PHOTO

import cutout.backends.edges as backend_edges
import cutout.backends.torch_edges as torch_edges
from cutout.backends.edges import TorchEdgeRefiner, edge_refiner_for
from cutout.backends.fake import FakeBackend
from cutout.engine import Engine
from cutout.imaging.edges import Edges, refine_edges
from cutout.options import RemoveOptions

MASK = RemoveOptions(mask=True)


def _engine(kind: str, **kwargs: Any) -> Engine:
    backend = FakeBackend()
    backend.device.kind = kind
    return Engine(backend.spec, backend=backend, **kwargs)


@pytest.fixture
def torch_on_cpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The CPU build of torch reaches "cuda": the torch path runs on torch's CPU device.
    Yields the devices the torch path was asked to run on."""
    monkeypatch.setattr(
        backend_edges, "usable_torch_device", lambda kind: "cpu" if kind == "cuda" else None
    )
    devices: list[str] = []
    real = torch_edges.refine_edges_torch

    def spy(*args: Any, **kwargs: Any) -> Edges:
        devices.append(kwargs["device"])
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_edges, "refine_edges_torch", spy)
    yield devices


def _alpha(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)), np.int16)


def test_a_model_on_a_gpu_gets_the_torch_path(torch_on_cpu: list[str]) -> None:
    with _engine("cuda") as engine:
        on_gpu = engine.remove(PHOTO, MASK)
        refiner = engine.edge_refiner
    assert isinstance(refiner, TorchEdgeRefiner)
    assert refiner.device == "cpu"
    assert torch_on_cpu == ["cpu"]
    with _engine("cpu") as engine:
        on_cpu = engine.remove(PHOTO, MASK)
        assert engine.edge_refiner is refine_edges
    # the same refinement either way
    difference = np.abs(_alpha(on_gpu.data) - _alpha(on_cpu.data))
    assert difference.mean() < 0.5
    assert abs(on_gpu.confidence - on_cpu.confidence) < 0.01


def test_a_model_on_the_cpu_keeps_the_numpy_path(torch_on_cpu: list[str]) -> None:
    with _engine("cpu") as engine:
        engine.remove(PHOTO)
        assert engine.edge_refiner is refine_edges
    assert torch_on_cpu == []


def test_a_gpu_torch_cannot_reach_keeps_the_numpy_path() -> None:
    # e.g. ONNX Runtime on CUDA beside a CPU build of torch (this machine's torch)
    if backend_edges.usable_torch_device("cuda") is not None:
        pytest.skip("torch reaches a CUDA device here")
    with _engine("cuda") as engine:
        assert engine.edge_refiner is refine_edges


def test_the_constructor_names_the_refiner() -> None:
    calls: list[str] = []

    def refiner(*args: Any, **kwargs: Any) -> Edges:
        calls.append(args[2])
        return refine_edges(*args, **kwargs)

    with _engine("cuda", edge_refiner=refiner) as engine:
        engine.remove(PHOTO, RemoveOptions(edges="fast"))
    assert calls == ["fast"]


def test_a_failing_gpu_path_falls_back_to_the_cpu_per_image(
    torch_on_cpu: list[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def out_of_memory(*args: Any, **kwargs: Any) -> Edges:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(torch_edges, "refine_edges_torch", out_of_memory)
    logged = caplog.at_level(logging.WARNING, logger="cutout.backends.edges")
    with logged, _engine("cuda") as engine:
        first = engine.remove(PHOTO, MASK)
        second = engine.remove(PHOTO, MASK)
        fallbacks = list(engine.device.fallbacks)
        refiner = engine.edge_refiner
    with _engine("cpu") as engine:
        expected = engine.remove(PHOTO, MASK)
    # the CPU's own result, for every image
    assert first.data == second.data == expected.data
    assert first.confidence == expected.confidence
    # recorded and logged once, counted every time
    assert fallbacks == [
        "edges on cpu failed (RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB)"
        " -> CPU for that image"
    ]
    assert isinstance(refiner, TorchEdgeRefiner) and refiner.cpu_images == 2
    assert len([r for r in caplog.records if "edges on cpu failed" in r.getMessage()]) == 1


def test_edge_refiner_for_reads_the_device_kind(torch_on_cpu: list[str]) -> None:
    from cutout.backends.base import DeviceInfo

    assert edge_refiner_for(DeviceInfo(kind="cpu", name="x")) is None
    assert edge_refiner_for(DeviceInfo(kind="mps", name="x")) is None  # not reachable here
    gpu = DeviceInfo(kind="cuda", name="x")
    refiner = edge_refiner_for(gpu)
    assert isinstance(refiner, TorchEdgeRefiner)
    assert refiner.fallbacks is gpu.fallbacks
