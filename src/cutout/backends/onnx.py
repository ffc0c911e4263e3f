"""ONNX Runtime backend: CPUExecutionProvider, or CUDA when onnxruntime-gpu sees a GPU.

Every ONNX Runtime session of cutout is opened here, with the options of
:func:`session_options`: the torch backend runs its exported graph through an
:class:`OnnxBackend` it owns. A GPU-capable request that ends on the CPU is never silent:
the reason is recorded in :attr:`DeviceInfo.fallbacks`, including two ONNX Runtime builds
installed side by side (see :func:`cutout.devices.onnxruntime_conflict`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from cutout.arrays import FloatArray
from cutout.backends.base import DeviceInfo
from cutout.cpus import usable_cpus
from cutout.devices import available_providers, check_device, onnxruntime_conflict
from cutout.errors import DeviceError, ModelError
from cutout.models.spec import ModelSpec
from cutout.models.weights import verify_file

__all__ = ["OnnxBackend", "session_options"]

logger = logging.getLogger(__name__)

_CUDA = "CUDAExecutionProvider"
# a provider's name, or its name and options (the device id of ``cuda:N``)
Provider = str | tuple[str, dict[str, str]]


def session_options(threads: int) -> Any:
    """The options of every session: ``threads`` intra-op threads, one inter-op thread,
    no spinning, every graph optimisation, errors-only logging."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle intra-op threads otherwise spin after each run, on the cores the strip-parallel
    # finish stage needs (8 MP: finish -25 ms CPU, forward -80)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def _choose_providers(device: str) -> list[Provider]:
    """ONNX Runtime's providers for ``device``: CUDA (the N-th device for ``cuda:N``) with
    the CPU behind it, or the CPU alone. A named CUDA device ORT cannot use is an error."""
    kind, _, index = check_device(device).partition(":")
    available = available_providers()
    if kind in ("auto", "cuda") and _CUDA in available:
        cuda: Provider = (_CUDA, {"device_id": index}) if index else _CUDA
        return [cuda, "CPUExecutionProvider"]
    if kind == "cuda":
        raise DeviceError(
            f"device {device!r} requested but ONNX Runtime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); {_gpu_build_advice()}"
        )
    return ["CPUExecutionProvider"]


def _gpu_build_advice() -> str:
    conflict = onnxruntime_conflict()
    if conflict is not None:
        return conflict
    # onnxruntime and onnxruntime-gpu share one package folder: never install both
    return (
        "on a CUDA machine, replace the CPU build with the GPU one, so that exactly one "
        "is installed: pip uninstall -y onnxruntime && pip install onnxruntime-gpu"
    )


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
            providers = _choose_providers(self.requested_device)
            try:
                session = ort.InferenceSession(
                    str(self.weights),
                    sess_options=session_options(self.threads),
                    providers=providers,
                )
            except Exception as exc:  # ORT raises its own untyped errors
                raise ModelError(f"cannot load {self.weights} for {self.spec.name}: {exc}") from exc
            used = tuple(session.get_providers())
            model_input = session.get_inputs()[0]
            self._input_name = model_input.name
            batch_dim = model_input.shape[0]
            self._fixed_batch = batch_dim if isinstance(batch_dim, int) else None
            on_gpu = used[0] == _CUDA
            self._device = DeviceInfo(
                kind="cuda" if on_gpu else "cpu",
                name=used[0],
                threads=None if on_gpu else self.threads,
                providers=used,
            )
            self._device.fallbacks.extend(self._cpu_fallbacks(providers, on_gpu))
            self._session = session

    def _cpu_fallbacks(self, providers: list[Provider], on_gpu: bool) -> list[str]:
        """Why a GPU-capable request runs on the CPU: never silently."""
        kind = self.requested_device.partition(":")[0]
        if on_gpu or kind == "cpu":
            return []
        if kind == "mps":
            return ["ONNX Runtime has no Apple MPS provider -> CPU"]
        names = [provider if isinstance(provider, str) else provider[0] for provider in providers]
        if _CUDA in names:
            return ["CUDAExecutionProvider unavailable -> CPU"]
        conflict = onnxruntime_conflict()  # auto without a CUDA provider: a broken install?
        if conflict is None:
            return []
        logger.warning("%s: %s", self.spec.name, conflict)
        return [f"no CUDAExecutionProvider -> CPU: {conflict}"]

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
