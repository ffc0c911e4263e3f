"""What one app holds (engine, batcher, pools, metrics) and the request pipeline.

:meth:`ServerState.remove` is the one path every image route takes::

    admit (bounded)  ->  decode+preprocess (thread pool)  ->  batcher (worker thread)
                     ->  postprocess+edges+compose+encode (thread pool)

so the event loop only awaits. ``queue_size`` bounds the image requests inside the
server at once (reading, decoding, waiting, running, encoding); one more is answered 503
with ``Retry-After`` before its body is read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from cutout.arrays import FloatArray
from cutout.config import Settings
from cutout.cpus import usable_cpus
from cutout.engine import Engine, Prepared, RemoveResult
from cutout.errors import CutoutError
from cutout.imaging.decode import DecodedImage, decode
from cutout.options import RemoveOptions
from cutout.server.auth import load_keys
from cutout.server.batcher import Batcher
from cutout.server.errors import (
    ClientGoneError,
    DeadlineExceededError,
    NotReadyError,
    OverloadedError,
)
from cutout.server.fetch import UrlPolicy
from cutout.server.lifecycle import ModelLoader, failure_code
from cutout.server.metrics import Metrics
from cutout.server.ratelimit import MegapixelLimiter

__all__ = ["Admission", "ServerState"]

T = TypeVar("T")

_log = logging.getLogger("cutout.server")

# (decoded image) -> the image to process (e.g. downscaled) and the options to use
Planner = Callable[[DecodedImage], tuple[DecodedImage, RemoveOptions]]
# True once the client has gone away (Starlette's Request.is_disconnected)
Disconnected = Callable[[], Awaitable[bool]]
_DISCONNECT_POLL_S = 0.1
# called with the input megapixels once they are known, before inference (rate limits)
Charger = Callable[[float], None]


@dataclass
class Admission:
    """A counter of image requests inside the server, bounded by ``limit``.

    With ``seconds_per_image`` (the measured service time) and ``budget_s`` (the request
    timeout), a request that would queue behind more work than it could wait for is
    refused at once with 503 + Retry-After, instead of being accepted only to expire with
    504 just before its turn (which, in a FIFO queue under overload, is every request).
    """

    limit: int
    on_reject: Callable[[], None] | None = None
    active: int = 0
    seconds_per_image: Callable[[], float | None] | None = None
    budget_s: float | None = None

    def _expected_wait(self) -> float | None:
        per_image = self.seconds_per_image() if self.seconds_per_image is not None else None
        if per_image is None:
            return None
        return (self.active + 1) * per_image

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.active >= self.limit:
            if self.on_reject is not None:
                self.on_reject()
            raise OverloadedError(
                f"the server is busy ({self.active} requests in progress), retry shortly"
            )
        wait = self._expected_wait()
        if wait is not None and self.budget_s is not None and wait > 0.9 * self.budget_s:
            if self.on_reject is not None:
                self.on_reject()
            backlog = wait - 0.9 * self.budget_s
            raise OverloadedError(
                f"the server is busy: about {wait:.0f} s of work is queued, more than the "
                f"{self.budget_s:.0f} s a request may wait; retry shortly",
                retry_after_s=max(1, math.ceil(backlog)),
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


class ServerState:
    def __init__(self, settings: Settings, engine: Engine, *, owns_engine: bool) -> None:
        self.settings = settings
        if settings.require_gpu:
            # the server's setting holds for an engine built by the caller too
            engine.require_gpu = True
        self.engine = engine
        self.owns_engine = owns_engine
        self.metrics = Metrics()
        self.loader = ModelLoader(engine, on_ready=self._record_model)
        self.admission = Admission(
            settings.queue_size,
            on_reject=self.metrics.rejected.labels(reason="queue_full").inc,
        )
        self.keys = load_keys(settings.api_keys, settings.api_keys_file)
        self.limiter = MegapixelLimiter(settings.rate_limit_mp_per_minute)
        # tests swap in a policy that lets a loopback server through (see fetch.py)
        self.url_policy = UrlPolicy(
            enabled=settings.allow_urls,
            allow_hosts=settings.url_allow_hosts,
            max_bytes=settings.url_max_bytes,
            timeout_s=settings.url_timeout_s,
        )
        self.batcher = Batcher(
            engine,
            max_batch=settings.max_batch,
            max_wait_s=settings.batch_wait_ms / 1000,
            queue_size=settings.queue_size,
            on_batch=self.metrics.batch_size.observe,
            on_fatal=self._device_failed,
        )
        self.admission.seconds_per_image = lambda: self.batcher.seconds_per_image
        self.admission.budget_s = settings.request_timeout_s
        workers = settings.workers or max(2, usable_cpus())
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cutout-io")

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.batcher.start()
        self.loader.start()

    def stop(self) -> None:
        # uvicorn has already waited shutdown_grace_s for requests; what is left in the
        # queue lost its listeners, so do not spend Cloud Run's remaining seconds on it
        self.batcher.stop(timeout=2.0)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.owns_engine:
            self.engine.close()

    def _record_model(self) -> None:
        stats = self.engine.stats
        self.metrics.model_load_seconds.set(stats.load_seconds)
        self.metrics.model_warmup_seconds.set(stats.warmup_seconds)
        self.metrics.model_ready.set(1)
        device = self.engine.device
        self.metrics.device.labels(
            model=self.engine.spec.name,
            kind=device.kind,
            name=device.name,
            precision=device.precision,
        ).set(1)

    def _device_failed(self, exc: CutoutError) -> None:
        """The engine's fallbacks are spent, or a required GPU was lost (a fallback to the
        CPU at run time): refuse work from now on, loudly: an ERROR line, ``/ready`` and
        (for a GPU) ``/health`` answer 503 with the reason, the metrics say so."""
        if self.loader.status != "failed":
            _log.error("model %s can no longer serve: %s", self.engine.spec.name, exc.message)
        self.loader.fail(exc.message, code=failure_code(exc))

    @property
    def gpu_unavailable(self) -> str | None:
        """Why a required GPU cannot be used (None when it can, or none is required)."""
        if self.loader.status == "failed" and self.loader.error_code == "gpu_unavailable":
            return self.loader.error
        return None

    def refresh_gauges(self) -> None:
        self.metrics.gpu_unavailable.set(1 if self.gpu_unavailable is not None else 0)
        self.metrics.queue_depth.set(self.batcher.depth)
        self.metrics.in_flight.set(self.admission.active)
        if self.loader.status == "ready":
            self.metrics.fallbacks.set(len(self.engine.device.fallbacks))
        else:
            self.metrics.model_ready.set(0)

    # -- the pipeline ------------------------------------------------------------------
    def deadline(self) -> float:
        return time.monotonic() + self.settings.request_timeout_s

    async def _infer(
        self, prepared: Prepared, deadline: float, disconnected: Disconnected | None
    ) -> FloatArray:
        """Wait for the batch; a client that goes away cancels its job (freeing its place)."""
        if disconnected is None:
            return await self.batcher.infer(prepared, deadline)
        task = asyncio.ensure_future(self.batcher.infer(prepared, deadline))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
                if done:
                    return task.result()
                if await disconnected():
                    task.cancel()
                    raise ClientGoneError("the client closed the connection")
        finally:
            if not task.done():
                task.cancel()

    def require_ready(self) -> None:
        if self.loader.status == "loading":
            raise NotReadyError("the model is still loading, retry shortly", retry_after_s=2)
        if self.loader.status == "failed":
            raise NotReadyError(f"the model cannot serve: {self.loader.error}", retry_after_s=30)

    async def in_pool(self, func: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, func, *args)

    def decode(self, data: bytes) -> DecodedImage:
        return decode(data, max_pixels=self.settings.max_pixels)

    async def remove(
        self,
        data: bytes,
        plan: Planner,
        *,
        deadline: float,
        charge: Charger | None = None,
        disconnected: Disconnected | None = None,
    ) -> RemoveResult:
        """Decode, batch, compose and encode one image, never on the event loop."""
        self.require_ready()

        def prepare() -> tuple[Prepared, RemoveOptions, float]:
            began = time.perf_counter()
            image = self.decode(data)
            decode_seconds = time.perf_counter() - began
            image, options = plan(image)
            prepared = self.engine.prepare(image)
            prepared.timings["decode"] = decode_seconds + prepared.timings.get("decode", 0.0)
            return prepared, options, image.width * image.height / 1e6

        prepared, options, megapixels = await self.in_pool(prepare)
        if charge is not None:
            charge(megapixels)
        if time.monotonic() >= deadline:
            self.metrics.rejected.labels(reason="deadline").inc()
            raise DeadlineExceededError("the request ran past its deadline before inference")
        try:
            saliency = await self._infer(prepared, deadline, disconnected)
        except DeadlineExceededError:
            self.metrics.rejected.labels(reason="deadline").inc()
            raise
        except OverloadedError:
            self.metrics.rejected.labels(reason="queue_full").inc()
            raise
        except ClientGoneError:
            self.metrics.rejected.labels(reason="client_gone").inc()
            raise
        result = await self.in_pool(self.engine.finish, prepared, saliency, options)
        self.metrics.megapixels.inc(megapixels)
        self.metrics.observe_stages(result.timings)
        return result
