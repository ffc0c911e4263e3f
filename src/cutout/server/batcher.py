"""Coalesce concurrent requests into batched forwards, off the event loop.

LitServe's pattern: one worker thread owns the engine's forward. It takes the first job
from a bounded queue, then keeps filling the batch until it holds ``max_batch`` jobs or a
monotonic deadline (``max_wait_s`` after the first job) passes, and runs one
:meth:`Engine.infer` call. Jobs whose request deadline has passed are answered with
:class:`DeadlineExceededError` and never run; jobs whose client went away are skipped.

The event loop only enqueues and awaits a future; a full queue raises
:class:`OverloadedError` at once instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cutout.arrays import FloatArray
from cutout.engine import Engine, Prepared
from cutout.errors import CutoutError, DeviceError, ModelError
from cutout.server.errors import DeadlineExceededError, OverloadedError

__all__ = ["BatchObserver", "Batcher", "FatalObserver"]

# called with the number of jobs in each forward, from the worker thread
BatchObserver = Callable[[int], None]
# called when the device failed for good (DeviceError), from the worker thread
FatalObserver = Callable[[CutoutError], None]


@dataclass(eq=False)
class _Job:
    prepared: Prepared
    deadline: float  # time.monotonic()
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[FloatArray]
    cancelled: bool = False
    enqueued: float = field(default_factory=time.monotonic)


def _settle(job: _Job, result: FloatArray | None, error: BaseException | None) -> None:
    def apply() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            assert result is not None
            job.future.set_result(result)

    # a closed loop means nobody is waiting any more
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(apply)


class Batcher:
    """One worker thread running ``engine.infer`` on batches of queued jobs."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int,
        max_wait_s: float,
        queue_size: int,
        on_batch: BatchObserver | None = None,
        on_fatal: FatalObserver | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        # one slot more than jobs may use, so that stop()'s sentinel always fits
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size + 1)
        self._on_batch = on_batch
        self._on_fatal = on_fatal
        self._thread: threading.Thread | None = None
        self._running = 0
        # moving average of forward seconds per image: the server's service rate, used to
        # refuse at admission the requests that could only wait past their deadline
        self.seconds_per_image: float | None = None

    @property
    def depth(self) -> int:
        """Jobs waiting in the queue plus jobs in the forward now running."""
        return self._queue.qsize() + self._running

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="cutout-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Run the jobs still queued (abandoned ones are skipped), then end the worker."""
        if self._thread is None:
            return
        self._queue.put_nowait(None)
        self._thread.join(timeout)
        self._thread = None

    async def infer(self, prepared: Prepared, deadline: float) -> FloatArray:
        """The saliency of one prepared image, computed in some batch."""
        loop = asyncio.get_running_loop()
        job = _Job(prepared, deadline, loop, loop.create_future())
        # only the event loop's thread puts jobs, so the check and the put cannot interleave
        if self._queue.qsize() >= self.queue_size:
            raise OverloadedError("the server is busy: the queue is full, retry shortly")
        self._queue.put_nowait(job)
        try:
            return await asyncio.wait_for(
                asyncio.shield(job.future), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            job.cancelled = True
            raise DeadlineExceededError("the request waited past its deadline") from None
        except asyncio.CancelledError:
            # the client went away: the worker skips the job, freeing its place
            job.cancelled = True
            raise

    def _observe(self, seconds: float) -> None:
        previous = self.seconds_per_image
        self.seconds_per_image = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    # -- worker thread -----------------------------------------------------------------
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        batch = [first]
        stop = False
        fill_until = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = fill_until - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            batch.append(job)
        return batch, stop

    def _work(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch, stop = self._collect(first)
            now = time.monotonic()
            live: list[_Job] = []
            for job in batch:
                if job.cancelled:
                    continue
                if job.deadline <= now:
                    _settle(
                        job, None, DeadlineExceededError("the request waited past its deadline")
                    )
                    continue
                live.append(job)
            if not live:
                continue
            self._running = len(live)
            began = time.monotonic()
            try:
                results = self.engine.infer([job.prepared for job in live])
            except CutoutError as exc:
                for job in live:
                    _settle(job, None, exc)
                if isinstance(exc, DeviceError) and self._on_fatal is not None:
                    # the engine's own fallbacks (smaller batch, CPU) are spent
                    self._on_fatal(exc)
            except Exception as exc:  # a backend failure must answer every waiter
                error = ModelError(f"inference failed: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                for job in live:
                    _settle(job, None, error)
            else:
                for job, result in zip(live, results, strict=True):
                    _settle(job, result, None)
                self._observe((time.monotonic() - began) / len(live))
                if self._on_batch is not None:
                    self._on_batch(len(live))
            finally:
                self._running = 0
