"""PyTorch backend for InSPyReNet: device choice, batching, and falling back instead of failing.

On the CPU the forward runs through the exported ONNX graph of the same weights, from the
cache under ``home``: the backend then owns an :class:`~cutout.backends.onnx.OnnxBackend`
for it (one runtime per class, one ONNX Runtime session setup) and keeps the torch network
only for input sizes the graph cannot take (dynamic resize). A static-size model whose
graph is missing exports it on first CPU use (once across processes, see
:func:`~cutout.models.inspyrenet.export.cached_graph`); an export or a graph that fails
leaves the forward to torch, recorded in :attr:`DeviceInfo.fallbacks`. With the graph in
the cache and the weights' digest remembered (:mod:`cutout.models.digests`), loading a
static-size CPU model reads neither the checkpoint nor torch's copy of it, and does not
even import torch (1.5 s of CPU at start): torch is imported where the network runs.

Device ``auto`` prefers CUDA, then Apple MPS, then the CPU (the rule of
:func:`cutout.devices.resolve_device`, asked of torch's probe). On CUDA the forward runs under
fp16/bf16 autocast with channels-last tensors and cuDNN autotuning. A GPU that fails to
initialise, or runs out of memory, never fails the request: the batch is halved until
it fits, then the model moves to the CPU. Each step is logged once and recorded in
:attr:`DeviceInfo.fallbacks` (surfaced by ``/model-info`` and the metrics).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from cutout.arrays import FloatArray
from cutout.backends.base import CpuRuntime, DeviceInfo
from cutout.backends.onnx import OnnxBackend
from cutout.cpus import usable_cpus
from cutout.devices import DeviceProbe, select_device, torch_probe
from cutout.errors import DeviceError, ModelError
from cutout.models.inspyrenet.export import cached_graph, onnx_cache_path
from cutout.models.spec import ModelSpec
from cutout.models.weights import verify_file, weights_sha256

if TYPE_CHECKING:
    import torch

__all__ = ["TorchBackend", "gpu_visible", "is_out_of_memory", "next_step"]

logger = logging.getLogger(__name__)

CpuPrecision = Literal["float32", "bfloat16"]


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def gpu_visible(dev: Path = Path("/dev")) -> bool:
    """Whether a GPU that torch could use may be here, answered without importing torch.

    On Linux a GPU is a device node: NVIDIA's ``nvidiactl``, ROCm's ``kfd`` (torch's
    ``cuda`` on AMD), WSL2's ``dxg``; without one, torch would find no CUDA device either.
    Elsewhere the answer is yes: ask torch.
    """
    if sys.platform != "linux":
        return True
    return any((dev / name).exists() for name in ("nvidiactl", "nvidia0", "kfd", "dxg"))


def _lazy_torch_probe() -> DeviceProbe:
    """torch's view of the devices, importing torch (1.5 s of CPU) only when a GPU may be
    there: the CPU-only default (``auto`` on a machine without one) runs the exported graph
    with no torch import at all."""
    return DeviceProbe(
        cuda_available=lambda: gpu_visible() and torch_probe().cuda_available(),
        mps_available=lambda: sys.platform == "darwin" and torch_probe().mps_available(),
    )


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
        self.probe = probe or _lazy_torch_probe()
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
        # where the torch network runs (a torch.device once placed; "cpu" before)
        self._torch_device: torch.device | str = "cpu"
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
            # md5; a user's --weights file is only identified by its sha256; both are
            # remembered for the unchanged file under home, so a restart hashes nothing
            if self.verify:
                self._sha256 = verify_file(self.spec, self.weights, home=self.home)
            else:
                self._sha256 = weights_sha256(self.weights, home=self.home)
            target = select_device(self.requested_device, self.probe)
            self._loaded = True
            if target == "cpu" and self.spec.resize == "static" and self._open_graph(True):
                # the cached graph is all a static-size CPU model needs: skip torch's copy
                self._device = self._cpu_info()
                return
            from cutout.models.inspyrenet.checkpoint import load_network

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
            on_cuda = self._kind() == "cuda"
            self.network = None
            if self.graph is not None:
                self.graph.close()
                self.graph = None
            self._loaded = False
            self._graph_failed = False
            self._torch_device = "cpu"
            if on_cuda:
                import torch

                torch.cuda.empty_cache()

    # -- inference ---------------------------------------------------------------------
    def predict(self, batch: FloatArray) -> FloatArray:
        with self._lock:
            if not self._loaded:
                raise ModelError(f"backend for {self.spec.name} used before load()")
            graph = self._graph_for(batch.shape[-2:])
            if graph is not None:  # the usual CPU case: no torch tensor, no torch import
                return graph.predict(batch)
            import torch

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
                    self._recover(size, exc)  # may move the model to the CPU (and graph)
                    continue
                start += size
            return np.concatenate(outputs, axis=0)

    def _forward(self, images: torch.Tensor) -> FloatArray:
        graph = self._graph_for(tuple(images.shape[-2:]))
        if graph is not None:
            return graph.predict(images.numpy())
        return self._forward_torch(images)

    def _graph_for(self, shape: tuple[int, ...]) -> OnnxBackend | None:
        """The exported graph when it runs this forward: it is open, the model is on the
        CPU, and the input has the graph's size. Another size needs the torch network."""
        size = self.spec.input_size
        if self.graph is None or self._kind() != "cpu":
            return None
        if tuple(shape) == (size, size):
            return self.graph
        if self.network is None:
            raise ModelError(
                f"{self.spec.name}: the exported graph takes {size}x{size} inputs, "
                f"got {tuple(shape)}"
            )
        return None

    def _kind(self) -> str:
        device = self._torch_device
        return device if isinstance(device, str) else str(device.type)

    def _forward_torch(self, images: torch.Tensor) -> FloatArray:
        import torch

        if self.network is None:
            raise ModelError(f"{self.spec.name}: no torch network for input {tuple(images.shape)}")
        device = self._torch_device
        assert not isinstance(device, str)
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
        kind = self._kind()
        action, smaller = next_step(kind, size)
        if action == "fail":
            raise DeviceError(
                f"out of memory running {self.spec.name} on the CPU with one image"
            ) from exc
        if kind == "cuda":
            import torch

            torch.cuda.empty_cache()
        if action == "halve":
            self.max_batch = smaller
            self._fallback(f"{kind} out of memory at batch {size} -> {smaller}")
        else:
            self._fallback(f"{kind} out of memory at batch 1 -> cpu")
            self._place("cpu")

    # -- placement ---------------------------------------------------------------------
    def _place(self, target: str) -> None:
        import torch

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
            export = self.cpu_runtime == "onnxruntime" or self.spec.resize == "static"
            if self._open_graph(export) and self.spec.resize == "static":
                self.network = None  # every input is the graph's size: free torch's copy
            info = self._cpu_info()
        info.fallbacks = fallbacks
        self._torch_device = device
        self._device = info

    def _cpu_info(self) -> DeviceInfo:
        info = DeviceInfo(
            kind="cpu",
            name="CPU",
            precision=self.cpu_precision,
            threads=self.threads,
            providers=("torch",),
            fallbacks=self._device.fallbacks,
        )
        if self.network is not None:  # torch runs some (dynamic sizes) or all forwards
            import torch

            torch.set_num_threads(self.threads)
            info.name = f"CPU (torch {torch.__version__})"
        if self.graph is not None:
            import onnxruntime as ort

            info.name = f"CPU (onnxruntime {ort.__version__}, exported graph)"
            info.providers = self.graph.device.providers
        return info

    def _open_graph(self, export: bool) -> bool:
        """Open the cached ONNX graph of these weights for the CPU forward, if policy
        allows (exporting it first when missing and ``export``); False when torch should
        run. A failed export or an unusable graph falls back to torch, recorded."""
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
            try:
                path = cached_graph(self.spec, self.weights, self._sha256, self.home)
            except ModelError as exc:  # disk full, a read-only cache, a stuck exporter
                self._graph_failed = True
                self._fallback(f"exporting the CPU graph failed ({_short(exc)}) -> torch")
                return False
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
