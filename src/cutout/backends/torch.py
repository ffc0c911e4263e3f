"""PyTorch backend for InSPyReNet: device choice, batching, and falling back instead of failing.

On the CPU the forward runs through the exported ONNX graph of the same weights when it is
in the cache: the backend then owns an :class:`~cutout.backends.onnx.OnnxBackend` for it
(one runtime per class, one ONNX Runtime session setup) and keeps the torch network only
for input sizes the graph cannot take (dynamic resize).

Device ``auto`` prefers CUDA, then Apple MPS, then the CPU (the rule of
:func:`cutout.devices.resolve_device`, asked of torch's probe). On CUDA the forward runs under
fp16/bf16 autocast with channels-last tensors and cuDNN autotuning. A GPU that fails to
initialise, or runs out of memory, never fails the request: the batch is halved until
it fits, then the model moves to the CPU. Each step is logged once and recorded in
:attr:`DeviceInfo.fallbacks` (surfaced by ``/model-info`` and the metrics).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cutout.arrays import FloatArray
from cutout.backends.base import DeviceInfo
from cutout.backends.onnx import OnnxBackend
from cutout.cpus import usable_cpus
from cutout.devices import DeviceProbe, select_device, torch_probe
from cutout.errors import DeviceError, ModelError
from cutout.models.inspyrenet.checkpoint import load_network
from cutout.models.inspyrenet.export import export_onnx, onnx_cache_path
from cutout.models.spec import ModelSpec
from cutout.models.weights import file_digest, verify_file

__all__ = ["TorchBackend", "is_out_of_memory", "next_step"]

logger = logging.getLogger(__name__)

CpuPrecision = Literal["float32", "bfloat16"]
# "auto": run the CPU forward through ONNX Runtime when the exported graph of these
# weights is in the cache (measured 2-4x faster than torch here, same parity bounds);
# "onnxruntime": export it on load when missing; "torch": never.
CpuRuntime = Literal["auto", "torch", "onnxruntime"]


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def next_step(device_kind: str, batch: int) -> tuple[str, int]:
    """What to do after running out of memory with ``batch`` images on ``device_kind``:
    ("halve", smaller batch), ("cpu", batch) to move to the CPU, or ("fail", batch)."""
    if batch > 1:
        return "halve", batch // 2
    if device_kind != "cpu":
        return "cpu", batch
    return "fail", batch


class TorchBackend:
    """One InSPyReNet checkpoint on one device (see the module docstring)."""

    def __init__(
        self,
        spec: ModelSpec,
        weights: Path,
        *,
        device: str = "auto",
        threads: int | None = None,
        verify: bool = True,
        cpu_precision: CpuPrecision = "float32",
        cpu_runtime: CpuRuntime = "auto",
        probe: DeviceProbe | None = None,
        home: Path | None = None,
    ) -> None:
        self.spec = spec
        self.weights = weights
        self.requested_device = device
        self.threads = threads or usable_cpus()
        self.verify = verify
        self.cpu_precision = cpu_precision
        self.cpu_runtime = cpu_runtime
        self.probe = probe or torch_probe()
        # the cache that holds exported graphs; None: no cache, the CPU forward is torch's
        self.home = home
        if cpu_runtime == "onnxruntime" and home is None:
            raise ValueError("cpu_runtime 'onnxruntime' exports the graph into a cache: pass home")
        self.network: torch.nn.Module | None = None
        # the exported graph of these weights, run by ONNX Runtime for the CPU forward
        self.graph: OnnxBackend | None = None
        self._loaded = False
        self._graph_failed = False
        self.max_batch = spec.max_batch
        self._torch_device = torch.device("cpu")
        self._autocast: torch.dtype | None = None
        self._sha256: str | None = None
        self._device = DeviceInfo(kind="cpu", name="not loaded")
        self._lock = threading.Lock()
        self._warned = False

    @property
    def device(self) -> DeviceInfo:
        return self._device

    @property
    def weights_sha256(self) -> str | None:
        return self._sha256

    # -- lifecycle ---------------------------------------------------------------------
    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            # official files resolved from the cache are checked against the published
            # md5; a user's --weights file is only identified by its sha256
            if self.verify:
                self._sha256 = verify_file(self.spec, self.weights)
            else:
                self._sha256 = file_digest(self.weights)
            target = select_device(self.requested_device, self.probe)
            self._loaded = True
            if target == "cpu" and self.spec.resize == "static" and self._open_graph(False):
                # the cached graph is all a static-size CPU model needs: skip torch's copy
                self._device = self._cpu_info()
                self._torch_device = torch.device("cpu")
                return
            self.network = load_network(self.weights, self.spec.input_size)
            if target != "cpu":
                try:
                    self._place(target)
                    return
                except Exception as exc:  # any init failure: driver, arch, OOM
                    self._fallback(f"{target} failed to initialise ({_short(exc)}) -> cpu")
            self._place("cpu")

    def close(self) -> None:
        with self._lock:
            on_cuda = self._torch_device.type == "cuda"
            self.network = None
            if self.graph is not None:
                self.graph.close()
                self.graph = None
            self._loaded = False
            self._graph_failed = False
            if on_cuda:
                torch.cuda.empty_cache()

    # -- inference ---------------------------------------------------------------------
    def predict(self, batch: FloatArray) -> FloatArray:
        with self._lock:
            if not self._loaded:
                raise ModelError(f"backend for {self.spec.name} used before load()")
            images = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            outputs: list[FloatArray] = []
            start = 0
            while start < images.shape[0]:
                size = min(self.max_batch, images.shape[0] - start)
                try:
                    outputs.append(self._forward(images[start : start + size]))
                except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
                    if not is_out_of_memory(exc):
                        raise ModelError(f"{self.spec.name} forward failed: {exc}") from exc
                    self._recover(size, exc)
                    continue
                start += size
            return np.concatenate(outputs, axis=0)

    def _forward(self, images: torch.Tensor) -> FloatArray:
        """The exported graph's forward when it runs the CPU and fits the input, else
        torch's; a size the graph cannot take needs the torch network."""
        if self.graph is not None and self._torch_device.type == "cpu":
            size = self.spec.input_size
            if tuple(images.shape[-2:]) == (size, size):
                return self.graph.predict(images.numpy())
            if self.network is None:
                raise ModelError(
                    f"{self.spec.name}: the exported graph takes {size}x{size} inputs, "
                    f"got {tuple(images.shape[-2:])}"
                )
        return self._forward_torch(images)

    def _forward_torch(self, images: torch.Tensor) -> FloatArray:
        if self.network is None:
            raise ModelError(f"{self.spec.name}: no torch network for input {tuple(images.shape)}")
        device = self._torch_device
        with torch.inference_mode():
            inputs = images.to(device, non_blocking=True)
            if device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            if self._autocast is not None:
                with torch.autocast(device.type, dtype=self._autocast):
                    logits = self.network(inputs)
            else:
                logits = self.network(inputs)
            saliency = torch.sigmoid(logits.float())[:, 0]
            result: FloatArray = saliency.cpu().numpy().astype(np.float32, copy=False)
        return result

    def _recover(self, size: int, exc: RuntimeError) -> None:
        kind = self._torch_device.type
        action, smaller = next_step(kind, size)
        if action == "fail":
            raise DeviceError(
                f"out of memory running {self.spec.name} on the CPU with one image"
            ) from exc
        if kind == "cuda":
            torch.cuda.empty_cache()
        if action == "halve":
            self.max_batch = smaller
            self._fallback(f"{kind} out of memory at batch {size} -> {smaller}")
        else:
            self._fallback(f"{kind} out of memory at batch 1 -> cpu")
            self._place("cpu")

    # -- placement ---------------------------------------------------------------------
    def _place(self, target: str) -> None:
        assert self.network is not None
        device = torch.device(target)
        fallbacks = self._device.fallbacks
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            network = self.network.to(device)
            self.network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            bf16 = torch.cuda.is_bf16_supported()
            self._autocast = torch.bfloat16 if bf16 else torch.float16
            props = torch.cuda.get_device_properties(device)
            info = DeviceInfo(
                kind="cuda",
                name=str(props.name),
                precision="bfloat16" if bf16 else "float16",
                memory_total_bytes=int(props.total_memory),
                providers=("torch",),
            )
        elif device.type == "mps":
            self.network = self.network.to(device)
            self._autocast = torch.float16
            info = DeviceInfo(
                kind="mps", name="Apple MPS", precision="float16", providers=("torch",)
            )
        else:
            self.network = self.network.to(device)
            self._autocast = torch.bfloat16 if self.cpu_precision == "bfloat16" else None
            if self._open_graph(self.cpu_runtime == "onnxruntime") and self.spec.resize == "static":
                self.network = None  # every input is the graph's size: free torch's copy
            info = self._cpu_info()
        info.fallbacks = fallbacks
        self._torch_device = device
        self._device = info

    def _cpu_info(self) -> DeviceInfo:
        torch.set_num_threads(self.threads)
        info = DeviceInfo(
            kind="cpu",
            name=f"CPU (torch {torch.__version__})",
            precision=self.cpu_precision,
            threads=self.threads,
            providers=("torch",),
            fallbacks=self._device.fallbacks,
        )
        if self.graph is not None:
            import onnxruntime as ort

            info.name = f"CPU (onnxruntime {ort.__version__}, exported graph)"
            info.providers = self.graph.device.providers
        return info

    def _open_graph(self, export: bool) -> bool:
        """Open the cached ONNX graph of these weights for the CPU forward, if policy
        allows (exporting it first when ``export``); False when torch should run."""
        if self.graph is not None:
            return True
        if self.cpu_runtime == "torch" or self.cpu_precision != "float32" or self._graph_failed:
            return False
        if self.home is None:
            return False
        assert self._sha256 is not None
        path = onnx_cache_path(self.spec, self._sha256, self.home)
        if not path.is_file():
            if not export:
                return False
            export_onnx(self.spec, self.weights, path)
        # the graph is keyed by the weights' sha256: it has no published digest of its own
        graph = OnnxBackend(self.spec, path, device="cpu", threads=self.threads, verify=False)
        try:
            graph.load()
        except ModelError as exc:  # a corrupt cached graph must not stop the model
            self._graph_failed = True
            reason = _short(exc.__cause__ or exc)
            self._fallback(f"exported graph {path.name} unusable ({reason}) -> torch")
            return False
        self.graph = graph
        return True

    def _fallback(self, line: str) -> None:
        self._device.fallbacks.append(line)
        if not self._warned:
            self._warned = True
            logger.warning("%s: %s", self.spec.name, line)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
