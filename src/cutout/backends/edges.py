"""Where the edge stage runs: beside a model on a GPU, the torch path on that GPU.

:func:`edge_refiner_for` answers for a loaded backend's device: a :class:`TorchEdgeRefiner`
on a CUDA or MPS device that torch can reach, else None (the engine then runs
:func:`cutout.imaging.edges.refine_edges` on the CPU, as it always has). On the GPU the
refinement costs milliseconds where the CPU path costs about a CPU forward, and the photo
is already in memory beside the model.

A torch error in the GPU path (out of memory beside a large batch, a device fault) does
not fail the image: that image is refined on the CPU instead, and the first such fallback
is recorded in the device's :attr:`~cutout.backends.base.DeviceInfo.fallbacks` (shown by
``/model-info`` and the metrics) and logged once; later ones are counted.

torch is imported only when a GPU path is chosen (this module is imported by every engine).
"""

from __future__ import annotations

import importlib.util
import logging

from cutout.arrays import ByteArray, FloatArray
from cutout.backends.base import DeviceInfo
from cutout.devices import GPU_KINDS
from cutout.imaging.edges import Edges, refine_edges
from cutout.options import EdgeLevel

__all__ = ["TorchEdgeRefiner", "edge_refiner_for", "usable_torch_device"]

logger = logging.getLogger(__name__)


def usable_torch_device(kind: str) -> str | None:
    """The torch device of a backend's device ``kind`` ("cuda", "mps"), or None when torch
    is not installed or cannot reach that kind of device (an ONNX Runtime GPU build beside
    a CPU build of torch)."""
    if kind not in GPU_KINDS or importlib.util.find_spec("torch") is None:
        return None
    import torch

    if kind == "cuda" and torch.cuda.is_available():
        return "cuda"
    if kind == "mps" and torch.backends.mps.is_available():
        return "mps"
    return None


def edge_refiner_for(device: DeviceInfo) -> TorchEdgeRefiner | None:
    """The GPU refiner for a model on ``device``; None: the CPU path serves."""
    torch_device = usable_torch_device(device.kind)
    if torch_device is None:
        return None
    return TorchEdgeRefiner(torch_device, fallbacks=device.fallbacks)


class TorchEdgeRefiner:
    """:func:`cutout.imaging.edges.refine_edges` on a torch device, falling back to it on
    the CPU for an image whose GPU refinement fails (see the module docstring)."""

    def __init__(self, device: str, *, fallbacks: list[str] | None = None) -> None:
        self.device = device
        # the device's fallback lines, shared with the backend's DeviceInfo
        self.fallbacks = fallbacks if fallbacks is not None else []
        # images refined on the CPU after a failure here
        self.cpu_images = 0

    def __call__(
        self,
        rgb: ByteArray,
        matte: ByteArray | FloatArray,
        level: EdgeLevel = "balanced",
        *,
        colours: bool = True,
        keep: ByteArray | None = None,
    ) -> Edges:
        from cutout.backends.torch_edges import refine_edges_torch

        try:
            return refine_edges_torch(
                rgb, matte, level, colours=colours, keep=keep, device=self.device
            )
        except RuntimeError as exc:  # torch's out-of-memory and device errors
            self._fallback(exc)
        return refine_edges(rgb, matte, level, colours=colours, keep=keep)

    def _fallback(self, exc: RuntimeError) -> None:
        self.cpu_images += 1
        if self.device == "cuda":  # give back what the failed refinement held
            import torch

            torch.cuda.empty_cache()
        if self.cpu_images == 1:
            text = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
            line = f"edges on {self.device} failed ({reason}) -> CPU for that image"
            self.fallbacks.append(line)
            logger.warning("%s", line)
