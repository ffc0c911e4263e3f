"""ONNX Runtime backend: CPUExecutionProvider, or CUDA when onnxruntime-gpu sees a GPU."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from cutout.arrays import FloatArray
from cutout.backends.base import DeviceInfo
from cutout.cpus import usable_cpus
from cutout.errors import DeviceError, ModelError
from cutout.models.spec import ModelSpec
from cutout.models.weights import verify_file

__all__ = ["OnnxBackend", "available_providers"]


def available_providers() -> tuple[str, ...]:
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


def _choose_providers(device: str) -> list[str]:
    available = available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise DeviceError(
            "device 'cuda' requested but ONNX Runtime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu on a CUDA machine"
        )
    return ["CPUExecutionProvider"]


class OnnxBackend:
    """Runs an ONNX model. A model with a fixed batch of one is run image by image."""

    def __init__(
        self,
        spec: ModelSpec,
        weights: Path,
        *,
        device: str = "auto",
        threads: int | None = None,
        verify: bool = True,
    ) -> None:
        self.spec = spec
        self.weights = weights
        self.requested_device = device
        self.threads = threads or usable_cpus()
        self.verify = verify
        self._session: Any = None
        self._input_name = ""
        self._fixed_batch: int | None = None
        self._sha256: str | None = None
        self._device = DeviceInfo(kind="cpu", name="not loaded")
        self._lock = threading.Lock()

    @property
    def device(self) -> DeviceInfo:
        return self._device

    @property
    def weights_sha256(self) -> str | None:
        return self._sha256

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            if self.verify:
                self._sha256 = verify_file(self.spec, self.weights)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # idle intra-op threads otherwise spin after each run, on the cores the
            # strip-parallel finish stage needs (8 MP: finish -25 ms CPU, forward -80)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            providers = _choose_providers(self.requested_device)
            try:
                session = ort.InferenceSession(
                    str(self.weights), sess_options=options, providers=providers
                )
            except Exception as exc:  # ORT raises its own untyped errors
                raise ModelError(f"cannot load {self.weights} for {self.spec.name}: {exc}") from exc
            used = tuple(session.get_providers())
            model_input = session.get_inputs()[0]
            self._input_name = model_input.name
            batch_dim = model_input.shape[0]
            self._fixed_batch = batch_dim if isinstance(batch_dim, int) else None
            on_gpu = used[0] == "CUDAExecutionProvider"
            self._device = DeviceInfo(
                kind="cuda" if on_gpu else "cpu",
                name=used[0],
                threads=None if on_gpu else self.threads,
                providers=used,
            )
            if self.requested_device in ("auto",) and not on_gpu and "CUDA" in "".join(providers):
                self._device.fallbacks.append("CUDAExecutionProvider unavailable -> CPU")
            self._session = session

    def predict(self, batch: FloatArray) -> FloatArray:
        session = self._session
        if session is None:
            raise ModelError(f"backend for {self.spec.name} used before load()")
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._fixed_batch == 1 and batch.shape[0] != 1:
            outputs = [self._run(session, batch[i : i + 1]) for i in range(batch.shape[0])]
            return np.concatenate(outputs, axis=0)
        return self._run(session, batch)

    def _run(self, session: Any, batch: FloatArray) -> FloatArray:
        # InferenceSession.run is thread-safe; the first output is the final saliency map.
        first = session.run(None, {self._input_name: batch})[0]
        result: FloatArray = np.asarray(first, dtype=np.float32).reshape(
            batch.shape[0], first.shape[-2], first.shape[-1]
        )
        return result

    def close(self) -> None:
        with self._lock:
            self._session = None
