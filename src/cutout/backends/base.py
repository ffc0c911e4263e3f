"""The backend contract: ``load``, ``predict(batch)``, ``close``.

A backend owns one model on one device. It receives a batch of preprocessed tensors
(N x 3 x H x W float32, already resized and normalised per the model's spec) and returns
the saliency maps at network resolution (N x H x W float32 in [0, 1], after the model's
sigmoid, before the per-image min-max and upsampling, which are pure functions in
:func:`cutout.imaging.tensor.saliency_to_matte`). Backends are the only code that owns a
device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from cutout.arrays import FloatArray
from cutout.models.spec import ModelSpec

__all__ = ["Backend", "CpuRuntime", "DeviceInfo"]

# InSPyReNet's CPU forward (cutout.backends.torch): "auto" runs the exported ONNX graph,
# exported into the cache on first use for a static-size model (used by a dynamic-size one
# when it is already there); "onnxruntime" exports it for a dynamic-size one too; "torch"
# never uses it
CpuRuntime = Literal["auto", "torch", "onnxruntime"]


@dataclass
class DeviceInfo:
    """What a backend actually runs on: reported by ``cutout info`` and ``/model-info``."""

    kind: str  # "cpu" | "cuda" | "mps"
    name: str  # e.g. "CPUExecutionProvider", "NVIDIA L4"
    precision: str = "float32"
    threads: int | None = None
    memory_total_bytes: int | None = None
    providers: tuple[str, ...] = ()
    # Human-readable lines, one per fallback that happened ("cuda OOM at batch 16 -> 8").
    fallbacks: list[str] = field(default_factory=list)


@runtime_checkable
class Backend(Protocol):
    """One loaded model on one device."""

    spec: ModelSpec

    @property
    def device(self) -> DeviceInfo: ...

    @property
    def weights_sha256(self) -> str | None: ...

    def load(self) -> None:
        """Read the weights and prepare the device. Idempotent. No downloads."""

    def predict(self, batch: FloatArray) -> FloatArray:
        """N x 3 x H x W normalised input -> N x H x W saliency in [0, 1]."""

    def close(self) -> None:
        """Release the device and memory. Idempotent."""
