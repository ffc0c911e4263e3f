"""Run many images through one Engine, overlapping file work with inference.

Three stages, each with its own threads, joined by a queue::

    decode pool (read + Engine.prepare) ──▶ model thread (Engine.infer, batched)
                                              ──▶ encode pool (Engine.finish + write)

The model thread is the caller's thread and the only one that touches the backend; it
batches whatever prepared images are waiting, up to the model's batch size. A semaphore
bounds the images in flight (decoded, waiting or being encoded), so memory stays bounded
however many files there are. Results are written in completion order, and every job is
reported exactly once, as written or failed with a one-line reason; the exception is a
required GPU that is lost (:class:`GpuUnavailableError`), which stops the run at once.

Ctrl-C (SIGINT) only sets a flag while the jobs run; the model thread sees it within a
tenth of a second and raises :class:`KeyboardInterrupt` itself. Python's default handler
raises wherever the main thread happens to be, and an exception raised inside a
finaliser (``__del__``) is printed and dropped, so an interrupt could be lost and the
run carry on to the end.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from cutout.arrays import FloatArray
from cutout.cli._paths import Job
from cutout.cpus import usable_cpus
from cutout.engine import Engine, Prepared, RemoveResult
from cutout.errors import CutoutError, GpuUnavailableError
from cutout.options import RemoveOptions

__all__ = ["Reporter", "describe", "pool_size", "run_jobs", "write_atomically"]

# (job, result) when written, (job, reason) when failed
Reporter = Callable[[Job, RemoveResult | str], None]

# a job decoded and preprocessed, or the reason it could not be
_Item = tuple[Job, Prepared | str]

# how often the model thread looks at the interrupt flag while it waits
_POLL_S = 0.1


@contextmanager
def _interrupt_flag() -> Iterator[threading.Event]:
    """An event that SIGINT sets, while the block runs (main thread only)."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _next(ready: queue.Queue[_Item], interrupted: threading.Event) -> _Item:
    while True:
        if interrupted.is_set():
            raise KeyboardInterrupt
        try:
            return ready.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def pool_size() -> int:
    """Threads per image pool (decode, encode): half the usable CPUs, 1 to 4; the model
    thread and its runtime's own threads use the rest."""
    return max(1, min(4, usable_cpus() // 2))


def describe(exc: BaseException, *, debug: bool) -> str:
    """The one-line reason for a failed job; the traceback too when debugging."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, CutoutError):
        reason = exc.message
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        reason = f"{where}{exc.strerror or exc}"
    else:
        reason = f"unexpected error ({type(exc).__name__}: {exc}); rerun with --debug for details"
    return " ".join(reason.split())  # one failure, one line, whatever the message holds


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, so no half-written output remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read(job: Job) -> bytes:
    if job.source is None:
        return sys.stdin.buffer.read()
    return job.source.read_bytes()


def _write(job: Job, data: bytes) -> None:
    if job.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomically(job.output, data)


def run_jobs(
    engine: Engine,
    jobs: Sequence[Job],
    options: RemoveOptions,
    report: Reporter,
    *,
    workers: int | None = None,
    debug: bool = False,
) -> None:
    """Process every job; ``report`` is called once per job, from any thread."""
    if not jobs:
        return
    workers = workers or pool_size()
    max_batch = max(1, engine.spec.max_batch)
    slots = threading.Semaphore(max_batch + 2 * workers)
    ready: queue.Queue[_Item] = queue.Queue()
    stop = threading.Event()

    def prepare(job: Job) -> None:
        try:
            prepared = engine.prepare(_read(job))
        except Exception as exc:  # every input is accounted for, whatever went wrong
            ready.put((job, describe(exc, debug=debug)))
        else:
            ready.put((job, prepared))

    def finish(job: Job, prepared: Prepared, saliency: FloatArray) -> None:
        try:
            result = engine.finish(prepared, saliency, options)
            _write(job, result.data)
        except Exception as exc:
            report(job, describe(exc, debug=debug))
        else:
            report(job, result)
        finally:
            slots.release()

    with (
        ThreadPoolExecutor(workers, thread_name_prefix="cutout-decode") as decoders,
        ThreadPoolExecutor(workers, thread_name_prefix="cutout-encode") as encoders,
    ):

        def feed() -> None:
            for job in jobs:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                decoders.submit(prepare, job)

        feeder = threading.Thread(target=feed, name="cutout-feed", daemon=True)
        try:
            with _interrupt_flag() as interrupted:
                feeder.start()
                _infer_loop(
                    engine,
                    ready,
                    interrupted,
                    len(jobs),
                    max_batch,
                    report,
                    encoders,
                    finish,
                    slots,
                    debug,
                )
        except BaseException:
            stop.set()
            decoders.shutdown(wait=False, cancel_futures=True)
            encoders.shutdown(wait=False, cancel_futures=True)
            raise
        feeder.join()


def _infer_loop(
    engine: Engine,
    ready: queue.Queue[_Item],
    interrupted: threading.Event,
    total: int,
    max_batch: int,
    report: Reporter,
    encoders: ThreadPoolExecutor,
    finish: Callable[[Job, Prepared, FloatArray], None],
    slots: threading.Semaphore,
    debug: bool,
) -> None:
    received = 0
    while received < total:
        items = [_next(ready, interrupted)]
        while len(items) < max_batch:
            try:
                items.append(ready.get_nowait())
            except queue.Empty:
                break
        received += len(items)
        good: list[tuple[Job, Prepared]] = []
        for job, prepared in items:
            if isinstance(prepared, str):
                report(job, prepared)
                slots.release()
            else:
                good.append((job, prepared))
        if not good:
            continue
        try:
            saliencies = engine.infer([prepared for _, prepared in good])
        except GpuUnavailableError:
            raise  # a required GPU is gone: no later file can run either, so stop here
        except Exception as exc:
            reason = describe(exc, debug=debug)
            for job, _ in good:
                report(job, reason)
                slots.release()
            continue
        for (job, prepared), saliency in zip(good, saliencies, strict=True):
            encoders.submit(finish, job, prepared, saliency)
