"""The Engine: one model loaded once, serving many images from many threads.

A removal is three stages, exposed separately so that callers can overlap them (the CLI
decodes the next file while the model runs; the server batches the middle stage across
requests):

1. :meth:`Engine.prepare` - decode and preprocess (pure, any thread);
2. :meth:`Engine.infer` - one batched forward on the backend (the only device work);
3. :meth:`Engine.finish` - postprocess, edges, compose and encode (pure, any thread).

:meth:`Engine.remove` runs the three in a row. Every result carries per-stage times
(:data:`STAGES`) and a confidence score: how much of the subject's outline the edge stage
(:mod:`cutout.imaging.edges`) could decide, 0-1, for sending doubtful cut-outs to a person.
The edge stage runs beside the model: on the model's GPU through torch when it has one
(:mod:`cutout.backends.edges`, chosen at :meth:`Engine.load`), else on the CPU.

With ``require_gpu`` the engine serves from a GPU or not at all: a model that loads on
the CPU (no GPU, a GPU that failed to initialise, a backend without a GPU build) or that
falls back to it later (out of memory at batch 1) raises :class:`GpuUnavailableError`
from :meth:`Engine.load`, :meth:`Engine.warmup` and every :meth:`Engine.infer`, with the
reason, instead of running 10-20x slower on a machine billed for a GPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cutout.arrays import FloatArray
from cutout.backends import Backend, CpuRuntime, create_backend
from cutout.backends.base import DeviceInfo
from cutout.backends.edges import edge_refiner_for
from cutout.cpus import usable_cpus
from cutout.devices import GPU_KINDS, DeviceProbe, resolve_device
from cutout.errors import DeviceError, GpuUnavailableError
from cutout.imaging.compose import Box, compose
from cutout.imaging.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode
from cutout.imaging.edges import EdgeRefiner, refine_edges
from cutout.imaging.encode import MEDIA_TYPES, encode
from cutout.imaging.tensor import preprocess, saliency_to_matte, saliency_to_matte8
from cutout.models.inspyrenet.policy import choose_model_for_quality
from cutout.models.registry import DEFAULT_MODEL, get_spec
from cutout.models.spec import ModelSpec, ResizePolicy
from cutout.models.weights import resolve_weights
from cutout.options import EdgeLevel, RemoveOptions

if TYPE_CHECKING:
    from cutout.config import Settings

__all__ = ["STAGES", "Engine", "EngineStats", "Prepared", "RemoveResult", "model_for_settings"]

STAGES = ("decode", "preprocess", "infer", "postprocess", "edges", "compose", "encode")
_GPU_REQUIRED = "a GPU is required (--require-gpu / CUTOUT_REQUIRE_GPU)"


@dataclass(eq=False)
class Prepared:
    """An image decoded and preprocessed, waiting for the forward pass."""

    image: DecodedImage
    tensor: FloatArray
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RemoveResult:
    """The encoded output and what is known about it. Times are in seconds.

    ``confidence`` (0-1) is the edge stage's: 1 when the subject's whole outline was
    decided, lower the more of it neither the colours nor the model could tell apart from
    the background (see :mod:`cutout.imaging.edges`); ``edges`` is the level that ran.
    """

    data: bytes
    media_type: str
    format: str
    width: int
    height: int
    foreground: Box | None
    timings: dict[str, float]
    model: str
    confidence: float
    edges: EdgeLevel


@dataclass
class EngineStats:
    images: int = 0
    batches: int = 0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def model_for_settings(settings: Settings, probe: DeviceProbe | None = None) -> str:
    """The model ``settings`` ask for: a named one (flag or ``CUTOUT_MODEL``) wins; else
    ``quality``'s InSPyReNet record for the device ``settings.device`` resolves to (the
    hardware is probed here, only for ``auto``, never when the settings load); else the
    default model."""
    if settings.model is not None:
        return settings.model
    if settings.quality is not None:
        # best and fast name their model whatever the hardware: only auto needs the device
        auto = settings.quality == "auto"
        device = resolve_device(settings.device, probe) if auto else settings.device
        return choose_model_for_quality(settings.quality, device)
    return DEFAULT_MODEL


def _settings_home() -> Path:
    """The cache folder of the settings, for engines built without them (``Engine(name)``,
    :func:`cutout.remove`); the settings module loads only when one is needed."""
    from cutout.config import load_settings

    return load_settings().home


def _choose_edge_refiner(device: DeviceInfo) -> EdgeRefiner:
    """The edge stage beside a model on ``device``: the torch path on the same GPU (where
    the CPU path would be the slowest stage), else the numpy/OpenCV path on the CPU."""
    return edge_refiner_for(device) or refine_edges


def _ready_when_loaded(device: DeviceInfo) -> bool:
    """True for ONNX Runtime's CPU provider alone, which needs no warm-up forward."""
    return device.kind == "cpu" and device.providers == ("CPUExecutionProvider",)


class Engine:
    """Background removal with one model.

    >>> engine = Engine("u2netp")          # nothing is loaded or downloaded yet
    >>> result = engine.remove(Path("examples/animal-1.jpg"))  # loads on first use
    >>> Path("out.png").write_bytes(result.data)
    """

    def __init__(
        self,
        model: str | ModelSpec = DEFAULT_MODEL,
        *,
        weights: Path | str | None = None,
        device: str = "auto",
        threads: int | None = None,
        resize: ResizePolicy | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        backend: Backend | None = None,
        home: Path | None = None,
        require_gpu: bool = False,
        cpu_runtime: CpuRuntime = "auto",
        edge_refiner: EdgeRefiner | None = None,
    ) -> None:
        spec = get_spec(model) if isinstance(model, str) else model
        if resize is not None:
            spec = spec.with_resize(resize)
        self.spec = spec
        self.weights = Path(weights) if weights is not None else None
        self.device_policy = device
        self.threads = threads or usable_cpus()
        self.max_pixels = max_pixels
        # the weights cache and exported graphs; None: Settings' (CUTOUT_HOME), read at load
        self.home = home
        # serve from a GPU or not at all (see the module docstring)
        self.require_gpu = require_gpu
        # InSPyReNet's CPU forward: the exported graph (auto, onnxruntime) or torch
        self.cpu_runtime = cpu_runtime
        self.stats = EngineStats()
        # the edge stage; None: chosen when the model loads (see _choose_edge_refiner)
        self._edge_refiner = edge_refiner
        self._backend = backend
        self._load_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._loaded = False

    @classmethod
    def from_settings(cls, settings: Settings, *, probe: DeviceProbe | None = None) -> Engine:
        """The engine ``settings`` describe (model, weights, device, threads, resize, limit,
        cache); ``probe`` answers for the hardware when ``--quality`` picks the model."""
        return cls(
            model_for_settings(settings, probe),
            weights=settings.weights,
            device=settings.device,
            threads=settings.threads,
            resize=settings.resize,
            max_pixels=settings.max_pixels,
            home=settings.home,
            require_gpu=settings.require_gpu,
            cpu_runtime=settings.cpu_runtime,
        )

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        self.load()
        assert self._backend is not None
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def device(self) -> DeviceInfo:
        return self.backend.device

    @property
    def edge_refiner(self) -> EdgeRefiner:
        """What the edge stage runs: the torch path on the model's GPU, else the CPU's."""
        self.load()
        assert self._edge_refiner is not None
        return self._edge_refiner

    def load(self) -> None:
        """Resolve the weights (no download) and load the backend. Idempotent.

        With ``require_gpu``, a backend that loaded on the CPU raises
        :class:`GpuUnavailableError` (every time: such an engine is never loaded)."""
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            start = time.perf_counter()
            if self._backend is None:
                home = self.home if self.home is not None else _settings_home()
                resolved = resolve_weights(self.spec, self.weights, home=home)
                self._backend = create_backend(
                    self.spec,
                    resolved.path,
                    device=self.device_policy,
                    threads=self.threads,
                    verify=resolved.source != "user",
                    home=home,
                    cpu_runtime=self.cpu_runtime,
                )
            try:
                self._backend.load()
            except DeviceError as exc:
                # e.g. device 'cuda' named and no CUDA device seen: the same failure
                if self.require_gpu and not isinstance(exc, GpuUnavailableError):
                    raise GpuUnavailableError(
                        f"{_GPU_REQUIRED} but {self.spec.name} cannot use one: {exc.message}"
                    ) from exc
                raise
            self.stats.load_seconds = time.perf_counter() - start
            self._check_gpu(self._backend)
            if self._edge_refiner is None:
                self._edge_refiner = _choose_edge_refiner(self._backend.device)
            self._loaded = True

    def gpu_problem(self, backend: Backend | None = None) -> str | None:
        """Why the model does not run on a GPU, in words; None when it does."""
        device = (backend or self.backend).device
        if device.kind in GPU_KINDS:
            return None
        if device.fallbacks:
            why = "; ".join(device.fallbacks)
        else:
            why = f"device {self.device_policy!r} found no GPU it can use"
        where = f"the {device.kind.upper()} ({device.name})"
        return f"{_GPU_REQUIRED} but {self.spec.name} runs on {where}: {why}"

    def _check_gpu(self, backend: Backend) -> None:
        if self.require_gpu:
            problem = self.gpu_problem(backend)
            if problem is not None:
                raise GpuUnavailableError(problem)

    def warmup(self) -> float:
        """Run one forward on a blank image; returns the seconds it took (0.0: skipped).

        Skipped where it buys nothing: ONNX Runtime on the CPU does its one-off work
        (graph optimisation, weight prepacking) when the session opens, and its first
        run costs what later ones do (u2netp: 0.38 against 0.27-0.35 s of CPU), so a
        warm-up forward would only delay readiness by a whole forward. torch (lazy
        initialisation, kernel choice) and GPUs (a context, cuDNN autotuning) do warm up.
        """
        self.load()
        if _ready_when_loaded(self.backend.device):
            self.stats.warmup_seconds = 0.0
            return 0.0
        start = time.perf_counter()
        blank = np.full((self.spec.input_size, self.spec.input_size, 3), 127, np.uint8)
        self.backend.predict(preprocess(blank, self.spec)[None])
        self._check_gpu(self.backend)  # the warm-up forward may have fallen back
        self.stats.warmup_seconds = time.perf_counter() - start
        return self.stats.warmup_seconds

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._loaded = False

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- stages ------------------------------------------------------------------------
    def prepare(self, source: bytes | Path | str | DecodedImage) -> Prepared:
        """Stage 1: decode (unless already decoded) and preprocess."""
        timings: dict[str, float] = {}
        if isinstance(source, DecodedImage):
            image = source
        else:
            with _timed(timings, "decode"):
                image = decode(source, max_pixels=self.max_pixels)
        with _timed(timings, "preprocess"):
            tensor = preprocess(image.rgb, self.spec)
        return Prepared(image=image, tensor=tensor, timings=timings)

    def infer(self, items: Sequence[Prepared]) -> list[FloatArray]:
        """Stage 2: forward passes, batched by input shape up to the spec's max batch.

        With ``require_gpu``, nothing runs once the model is on the CPU, and a batch whose
        forward fell back to the CPU raises :class:`GpuUnavailableError`."""
        backend = self.backend
        self._check_gpu(backend)
        results: list[FloatArray | None] = [None] * len(items)
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(item.tensor.shape, []).append(index)
        for indices in groups.values():
            for start in range(0, len(indices), self.spec.max_batch):
                chunk = indices[start : start + self.spec.max_batch]
                began = time.perf_counter()
                batch = np.stack([items[i].tensor for i in chunk])
                saliency = backend.predict(batch)
                elapsed = time.perf_counter() - began
                self._check_gpu(backend)
                for offset, index in enumerate(chunk):
                    results[index] = saliency[offset]
                    # each image is charged its share of the batch's forward time
                    items[index].timings["infer"] = elapsed / len(chunk)
                with self._stats_lock:
                    self.stats.batches += 1
        return [result for result in results if result is not None]

    def finish(
        self, prepared: Prepared, saliency: FloatArray, options: RemoveOptions | None = None
    ) -> RemoveResult:
        """Stage 3: matte at full resolution, edge refinement, compose, encode.

        The edge stage refines the matte against the photo at ``options.edges`` and takes
        the old background's colour out of soft pixels (not for a mask, which has no
        colours, nor for ``invert``, whose visible layer is the background); the input's
        own alpha, when it had one, is a ceiling for the result's alpha throughout.
        """
        options = options or RemoveOptions()
        timings = dict(prepared.timings)
        image = prepared.image
        with _timed(timings, "postprocess"):
            # 8-bit: compose's default path then never converts to float and back
            matte = saliency_to_matte8(saliency, self.spec, image.width, image.height)
        with _timed(timings, "edges"):
            edges = self.edge_refiner(
                image.rgb,
                matte,
                options.edges,
                colours=not options.mask and not options.invert,
                keep=image.alpha,
            )
        with _timed(timings, "compose"):
            composite = compose(
                image.rgb, edges.alpha, options, colours=edges.rgb, keep=image.alpha
            )
        with _timed(timings, "encode"):
            data = encode(
                composite,
                options.format,
                quality=options.quality,
                png_compress_level=options.png_compress_level,
            )
        self._record(timings)
        height, width = composite.pixels.shape[:2]
        return RemoveResult(
            data=data,
            media_type=MEDIA_TYPES[options.format],
            format=options.format,
            width=int(width),
            height=int(height),
            foreground=composite.foreground,
            timings=timings,
            model=self.spec.name,
            confidence=edges.confidence,
            edges=options.edges,
        )

    # -- one call ----------------------------------------------------------------------
    def remove(
        self, source: bytes | Path | str | DecodedImage, options: RemoveOptions | None = None
    ) -> RemoveResult:
        """Remove the background of one image."""
        prepared = self.prepare(source)
        saliency = self.infer([prepared])[0]
        return self.finish(prepared, saliency, options)

    def matte(self, source: bytes | Path | str | DecodedImage) -> FloatArray:
        """The model's own [0, 1] matte of one image at its full resolution: before the
        edge stage and before the input's own alpha is applied (what quality
        measurements and the edge stage's tests start from)."""
        prepared = self.prepare(source)
        saliency = self.infer([prepared])[0]
        return saliency_to_matte(saliency, self.spec, prepared.image.width, prepared.image.height)

    def _record(self, timings: dict[str, float]) -> None:
        with self._stats_lock:
            self.stats.images += 1
            for stage, seconds in timings.items():
                self.stats.stage_seconds[stage] = self.stats.stage_seconds.get(stage, 0.0) + seconds
