"""A fake backend for tests: deterministic, instant, no weights.

Its "saliency" is a smooth function of the input (how far each pixel's normalised colour
is from the image border's mean colour), so a subject on a plain background gets a
plausible matte and tests of the pipeline exercise real numbers. ``fail_with`` injects an
exception on the next ``predict`` calls (to test fallbacks and error paths).
"""

from __future__ import annotations

import threading

import numpy as np

from cutout.arrays import FloatArray
from cutout.backends.base import DeviceInfo
from cutout.models.spec import ModelSpec, WeightsSource

__all__ = ["FAKE_SPEC", "FakeBackend"]

FAKE_SPEC = ModelSpec(
    name="fake",
    family="fake",
    backend="onnx",
    input_size=64,
    weights=WeightsSource(filename="fake.bin", embedded=True),
    licence="n/a",
    description="test double: border-contrast saliency",
    max_batch=8,
)


class FakeBackend:
    def __init__(self, spec: ModelSpec = FAKE_SPEC, *, delay_s: float = 0.0) -> None:
        self.spec = spec
        self.delay_s = delay_s
        self.loaded = False
        self.closed = False
        self.batches: list[int] = []
        self.fail_with: list[BaseException] = []
        self._device = DeviceInfo(kind="cpu", name="fake", threads=1)
        self._lock = threading.Lock()

    @property
    def device(self) -> DeviceInfo:
        return self._device

    @property
    def weights_sha256(self) -> str | None:
        return None

    def load(self) -> None:
        self.loaded = True

    def predict(self, batch: FloatArray) -> FloatArray:
        if not self.loaded:
            raise RuntimeError("FakeBackend.predict before load")
        with self._lock:
            self.batches.append(int(batch.shape[0]))
            if self.fail_with:
                raise self.fail_with.pop(0)
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        border = np.concatenate(
            [batch[:, :, 0, :], batch[:, :, -1, :], batch[:, :, :, 0], batch[:, :, :, -1]],
            axis=2,
        ).mean(axis=2)
        distance = np.sqrt(((batch - border[:, :, None, None]) ** 2).sum(axis=1))
        saliency = 1.0 / (1.0 + np.exp(-(distance - 1.0) * 4.0))
        result: FloatArray = saliency.astype(np.float32)
        return result

    def close(self) -> None:
        self.closed = True
