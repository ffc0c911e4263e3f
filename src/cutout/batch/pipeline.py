"""The scheduler of a batch: storage I/O and image work overlapping the model.

Five stages, each its own threads, joined by bounded queues::

    fetch  (io threads: judge, read)       ──▶ prepare (cpu threads: decode, preprocess)
      ──▶ infer (the caller's thread, batched) ──▶ finish (cpu threads: compose, encode)
      ──▶ store  (io threads: write)

What a stage does is the caller's (:class:`Stages`); this module only moves items. The
model thread is the caller's, the only one that runs ``infer``; it takes whatever is
prepared, up to ``max_batch``. Fetch and store threads spend their time waiting on the
network, so there are more of them than CPU threads: with ``io_workers`` requests in
flight, a store answering in 50 ms keeps ``io_workers / 0.05`` items a second coming.

Memory stays flat however many items there are: every queue is bounded, so a stage
that runs ahead blocks until the next has room. Decoded images (the large objects) exist
only from ``prepare`` to ``finish``: at most ``2 * max_batch + 3 * cpu_workers`` of them.

Every item ends exactly once: ``fetch`` returning ``None`` (the stage dealt with it,
e.g. up to date), ``store`` returning, or ``failed(item, exc)`` for an exception in any
stage (a failing batch fails each of its items). An item's failure never stops the others.

:class:`Control` stops and pauses a run from another thread (a signal watcher): paused,
no new item is taken; stopped, no new item is taken, items not yet through the model are
dropped (they are neither finished nor failed: the caller counts them as left for the
next run), and items past the model are finished and stored.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Control", "PipelineStats", "Stages", "run_pipeline"]

T = TypeVar("T")  # an item, as the caller tracks it
T_contra = TypeVar("T_contra", contravariant=True)
P = TypeVar("P")  # prepared for the model
S = TypeVar("S")  # the model's answer for one item
R = TypeVar("R")  # the finished result
X = TypeVar("X")
Y = TypeVar("Y")


class _End:
    """The end mark a stage sends down a queue, one per consumer."""


_END = _End()


class Stages(Protocol[T_contra, P, S, R]):
    def fetch(self, item: T_contra) -> bytes | None:
        """The item's bytes, or ``None`` when there is nothing to do (already reported)."""
        ...

    def prepare(self, item: T_contra, data: bytes) -> P: ...

    def infer(self, batch: Sequence[P]) -> list[S]: ...

    def finish(self, item: T_contra, prepared: P, answer: S) -> R: ...

    def store(self, item: T_contra, output: R) -> None: ...

    def failed(self, item: T_contra, error: Exception) -> None:
        """``item`` failed with ``error`` in one of the stages; called once per item."""
        ...


class Control:
    """Stop or pause a running pipeline from any thread."""

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._running = threading.Event()
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self._stopped.set()
        self._running.set()  # paused fetchers wake up and see the stop

    def pause(self) -> None:
        if not self.stopped:
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def admit(self) -> bool:
        """Wait while paused; whether a new item may be taken."""
        self._running.wait()
        return not self.stopped


@dataclass(frozen=True)
class PipelineStats:
    """How a run went, for reports and benchmarks. Times are seconds of the model thread.

    ``model_wait_s`` is the time the model waited for input between its first and its
    last batch (the fill at the start and the drain at the end left out): what a faster
    store, more ``io_workers`` or more CPU would win back. ``model_blocked_s`` is time it
    waited for room after the model (finishing or storing too slow)."""

    taken: int
    dropped: int  # taken, then dropped before the model because of a stop
    batches: int
    model_busy_s: float
    model_wait_s: float
    model_blocked_s: float
    wall_s: float

    @property
    def idle_fraction(self) -> float:
        """Share of the model thread's time spent waiting for input."""
        total = self.model_busy_s + self.model_wait_s + self.model_blocked_s
        return self.model_wait_s / total if total > 0 else 0.0


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, amount: int = 1) -> None:
        with self._lock:
            self.value += amount


class _Pool:
    """``count`` threads running ``loop``; the last one to end calls ``at_end`` (which
    sends end marks to the next stage)."""

    def __init__(
        self, name: str, count: int, loop: Callable[[], None], at_end: Callable[[], None]
    ) -> None:
        self._left = count
        self._lock = threading.Lock()
        self._loop = loop
        self._at_end = at_end
        self.threads = [
            threading.Thread(target=self._run, name=f"cutout-{name}-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with self._lock:
                self._left -= 1
                last = self._left == 0
            if last:
                self._at_end()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


def _ends(target: queue.Queue[Any], count: int) -> Callable[[], None]:
    def send() -> None:
        for _ in range(count):
            target.put(_END)

    return send


class _Run(Generic[T, P, S, R]):
    def __init__(
        self,
        items: Iterable[T],
        stages: Stages[T, P, S, R],
        control: Control,
        max_batch: int,
        cpu_workers: int,
        io_workers: int,
    ) -> None:
        self.stages = stages
        self.control = control
        self.max_batch = max_batch
        self._todo = iter(items)
        self._todo_lock = threading.Lock()
        self.fetched: queue.Queue[tuple[T, bytes] | _End] = queue.Queue(maxsize=io_workers)
        self.ready: queue.Queue[tuple[T, P] | _End] = queue.Queue(maxsize=max_batch)
        self.inferred: queue.Queue[tuple[T, tuple[P, S]] | _End] = queue.Queue(maxsize=cpu_workers)
        self.finished: queue.Queue[tuple[T, R] | _End] = queue.Queue(maxsize=io_workers)
        self.taken = _Counter()
        self.dropped = _Counter()

    # -- the stages around the model ---------------------------------------------------
    def _next(self) -> T | _End:
        if not self.control.admit():
            return _END
        with self._todo_lock:
            item = next(self._todo, _END)
        if not isinstance(item, _End):
            self.taken.add()
        return item

    def fetch_loop(self) -> None:
        while not isinstance(item := self._next(), _End):
            try:
                data = self.stages.fetch(item)
            except Exception as exc:  # one item's failure never stops the others
                self.stages.failed(item, exc)
                continue
            if data is not None:
                self.fetched.put((item, data))

    def step_loop(
        self,
        inbox: queue.Queue[tuple[T, X] | _End],
        step: Callable[[T, X], Y],
        outbox: queue.Queue[tuple[T, Y] | _End] | None,
        *,
        drop_when_stopped: bool = False,
    ) -> None:
        """Apply ``step`` to what comes in, pass the result on (``outbox`` None: the item
        has ended); an item whose step raises has failed."""
        while not isinstance(entry := inbox.get(), _End):
            item, value = entry
            if drop_when_stopped and self.control.stopped:
                self.dropped.add()
                continue
            try:
                result = step(item, value)
            except Exception as exc:
                self.stages.failed(item, exc)
                continue
            if outbox is not None:
                outbox.put((item, result))

    def prepare_loop(self) -> None:
        self.step_loop(self.fetched, self.stages.prepare, self.ready, drop_when_stopped=True)

    def finish_loop(self) -> None:
        def finish(item: T, pair: tuple[P, S]) -> R:
            return self.stages.finish(item, *pair)

        self.step_loop(self.inferred, finish, self.finished)

    def store_loop(self) -> None:
        self.step_loop(self.finished, self.stages.store, None)

    # -- the model, on the caller's thread ---------------------------------------------
    def model_loop(self) -> tuple[int, float, float, float]:
        batches, busy, wait, blocked = 0, 0.0, 0.0, 0.0
        ended = False
        while not ended:
            began = time.perf_counter()
            first = self.ready.get()
            if isinstance(first, _End):
                break
            if batches:
                wait += time.perf_counter() - began
            entries = [first]
            while len(entries) < self.max_batch:
                try:
                    entry = self.ready.get_nowait()
                except queue.Empty:
                    break
                if isinstance(entry, _End):
                    ended = True
                    break
                entries.append(entry)
            if self.control.stopped:
                self.dropped.add(len(entries))
                continue
            began = time.perf_counter()
            try:
                answers = self.stages.infer([prepared for _, prepared in entries])
            except Exception as exc:
                for item, _ in entries:
                    self.stages.failed(item, exc)
                continue
            finally:
                busy += time.perf_counter() - began
                batches += 1
            began = time.perf_counter()
            for (item, prepared), answer in zip(entries, answers, strict=True):
                self.inferred.put((item, (prepared, answer)))
            blocked += time.perf_counter() - began
        return batches, busy, wait, blocked

    def drain_ready(self) -> None:
        """After the model thread has left: take what the prepare threads still hand over."""
        while not isinstance(self.ready.get(), _End):
            self.dropped.add()


def run_pipeline(
    items: Iterable[T],
    stages: Stages[T, P, S, R],
    *,
    max_batch: int,
    cpu_workers: int,
    io_workers: int,
    control: Control | None = None,
) -> PipelineStats:
    """Run every item through ``stages``; returns when every item has ended (or, after a
    stop, been dropped). The caller's thread runs the model."""
    if min(max_batch, cpu_workers, io_workers) < 1:
        raise ValueError("max_batch, cpu_workers and io_workers must be at least 1")
    control = control or Control()
    run = _Run(items, stages, control, max_batch, cpu_workers, io_workers)
    start = time.perf_counter()
    stores = _Pool("store", io_workers, run.store_loop, lambda: None)
    finishers = _Pool("finish", cpu_workers, run.finish_loop, _ends(run.finished, io_workers))
    preparers = _Pool("prepare", cpu_workers, run.prepare_loop, _ends(run.ready, 1))
    fetchers = _Pool("fetch", io_workers, run.fetch_loop, _ends(run.fetched, cpu_workers))
    model_done = _ends(run.inferred, cpu_workers)
    try:
        batches, busy, wait, blocked = run.model_loop()
    except BaseException:
        # interrupted (KeyboardInterrupt without a signal watcher): let the other stages
        # run out; what is past the model is still stored, in the background
        control.stop()
        threading.Thread(target=run.drain_ready, name="cutout-drain", daemon=True).start()
        model_done()
        raise
    model_done()
    for pool in (fetchers, preparers, finishers, stores):
        pool.join()
    return PipelineStats(
        taken=run.taken.value,
        dropped=run.dropped.value,
        batches=batches,
        model_busy_s=busy,
        model_wait_s=wait,
        model_blocked_s=blocked,
        wall_s=time.perf_counter() - start,
    )
