"""Backends: one file each, one contract (:class:`cutout.backends.base.Backend`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cutout.backends.base import Backend, CpuRuntime, DeviceInfo
from cutout.errors import BackendUnavailableError
from cutout.models.spec import ModelSpec

__all__ = ["Backend", "CpuRuntime", "DeviceInfo", "create_backend"]


def create_backend(
    spec: ModelSpec,
    weights: Path,
    *,
    device: str = "auto",
    threads: int | None = None,
    verify: bool = True,
    home: Path | None = None,
    cpu_runtime: CpuRuntime = "auto",
) -> Backend:
    """Build (but do not load) the backend that runs ``spec``; ``home`` is the cache of
    derived files (the torch backend's exported graphs, the digest memo)."""
    if spec.backend == "onnx":
        from cutout.backends.onnx import OnnxBackend

        return OnnxBackend(spec, weights, device=device, threads=threads, verify=verify)
    # the torch backend imports torch only where the network runs (not for the exported
    # graph on the CPU), so ask whether it is installed rather than waiting for an import
    if importlib.util.find_spec("torch") is None:
        raise BackendUnavailableError(
            f"model {spec.name} needs PyTorch: pip install 'cutout[torch]'"
        )
    from cutout.backends.torch import TorchBackend

    if cpu_runtime == "onnxruntime" and home is None:
        cpu_runtime = "auto"  # nowhere to export to: use no graph
    return TorchBackend(
        spec,
        weights,
        device=device,
        threads=threads,
        verify=verify,
        home=home,
        cpu_runtime=cpu_runtime,
    )
