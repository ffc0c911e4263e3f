"""Backends: one file each, one contract (:class:`cutout.backends.base.Backend`)."""

from __future__ import annotations

from pathlib import Path

from cutout.backends.base import Backend, DeviceInfo
from cutout.errors import BackendUnavailableError
from cutout.models.spec import ModelSpec

__all__ = ["Backend", "DeviceInfo", "create_backend"]


def create_backend(
    spec: ModelSpec,
    weights: Path,
    *,
    device: str = "auto",
    threads: int | None = None,
    verify: bool = True,
    home: Path | None = None,
) -> Backend:
    """Build (but do not load) the backend that runs ``spec``; ``home`` is the cache of
    derived files (the torch backend's exported graphs)."""
    if spec.backend == "onnx":
        from cutout.backends.onnx import OnnxBackend

        return OnnxBackend(spec, weights, device=device, threads=threads, verify=verify)
    try:
        from cutout.backends.torch import TorchBackend
    except ImportError as exc:
        raise BackendUnavailableError(
            f"model {spec.name} needs PyTorch: pip install 'cutout[torch]'"
        ) from exc
    return TorchBackend(spec, weights, device=device, threads=threads, verify=verify, home=home)
