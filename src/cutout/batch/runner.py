"""One shard of a batch: judge every item, run the model on what is not up to date,
write each output with its provenance, and report every item once.

The stages of :mod:`cutout.batch.pipeline`, filled in:

- **fetch** (io threads): the output is judged against the source (its provenance, see
  :mod:`cutout.batch.provenance`; a folder's sidecar costs a stat here). Up to date:
  ``skipped``, nothing read. Else the source's bytes are read.
- **prepare / infer / finish**: the model's three stages (:class:`Model`, which
  :class:`cutout.engine.Engine` is), with the run's :class:`RemoveOptions`.
- **store** (io threads): one atomic, conditional write of the bytes with the provenance
  of exactly the bytes that were read (their size and digest): create-only when there was
  no output, replace-only-what-was-judged otherwise. A condition that no longer holds
  means another writer was faster: ``skipped`` if what it wrote is up to date, else
  ``failed`` (the next run redoes it).

A storage error that will fail every item the same way (permission denied; the
destination bucket or folder gone) stops the run after the items in flight: one clear
reason instead of ten thousand lines; see :attr:`ShardResult.fatal`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from cutout.batch.errors import StorageError, StorageNotFoundError, StoragePermissionError
from cutout.batch.pipeline import Control, PipelineStats, run_pipeline
from cutout.batch.plan import Plan, Task
from cutout.batch.provenance import Provenance, is_current
from cutout.batch.report import ReportLine, ShardReport, Status, Summary
from cutout.batch.store import Item, Store
from cutout.errors import CutoutError
from cutout.options import RemoveOptions

__all__ = ["Finished", "Model", "ShardResult", "ShardRun"]

P = TypeVar("P")
S = TypeVar("S")


class Finished(Protocol):
    """What the model's last stage hands back (:class:`cutout.engine.RemoveResult`)."""

    @property
    def data(self) -> bytes: ...

    @property
    def media_type(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class Model(Protocol[P, S]):
    """The three stages of :class:`cutout.engine.Engine`."""

    def prepare(self, source: bytes) -> P: ...

    def infer(self, items: Sequence[P]) -> list[S]: ...

    def finish(self, prepared: P, saliency: S, options: RemoveOptions) -> Finished: ...


@dataclass(eq=False)
class _Work:
    """One item on its way through the stages."""

    task: Task
    existing: Item | None  # the output as judged
    size: int = 0  # of the bytes read
    digest: str | None = None
    seconds: float = 0.0  # work done on it, in every stage
    confidence: float | None = None  # of the cut-out made (None when none was made)


@dataclass(eq=False)
class _Ready(Generic[P]):
    work: _Work
    prepared: P


@dataclass(frozen=True)
class ShardResult:
    summary: Summary
    stats: PipelineStats
    left: int  # items neither done, skipped nor failed: left for the next run by a stop
    fatal: StorageError | None = None


def _describe(error: Exception) -> str:
    if isinstance(error, CutoutError):
        return error.message
    return f"{type(error).__name__}: {error}"


@contextmanager
def _timed(work: _Work) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        work.seconds += time.perf_counter() - start


@dataclass
class ShardRun(Generic[P, S]):
    """Everything one shard needs; :meth:`run` does the work of a :class:`Plan`.

    ``digest`` is the options digest outputs must carry (:func:`options_digest`);
    ``metadata`` is written with every output besides its provenance (not compared);
    ``force`` redoes outputs that are up to date; ``describe`` turns an error into the
    report's one-line reason; ``on_line`` sees every report line as it is added.
    """

    src: Store
    dst: Store
    model: Model[P, S]
    options: RemoveOptions
    digest: str
    report: ShardReport
    force: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)
    describe: Callable[[Exception], str] = _describe
    on_line: Callable[[ReportLine], None] | None = None
    control: Control = field(default_factory=Control)
    fatal: StorageError | None = field(default=None, init=False)
    _fatal_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run(self, plan: Plan, *, max_batch: int, cpu_workers: int, io_workers: int) -> ShardResult:
        for refusal in plan.refused:
            self._add(ReportLine(refusal.source, refusal.output, "failed", refusal.reason))
        works = (_Work(task, task.existing) for task in plan.tasks)
        stats = run_pipeline(
            works,
            self,
            max_batch=max_batch,
            cpu_workers=cpu_workers,
            io_workers=io_workers,
            control=self.control,
        )
        summary = self.report.summary()
        return ShardResult(summary, stats, plan.items - summary.total, self.fatal)

    # -- the stages ----------------------------------------------------------------------
    def fetch(self, work: _Work) -> bytes | None:
        task = work.task
        with _timed(work):
            existing = work.existing
            if existing is not None and existing.metadata is None:
                existing = work.existing = self.dst.stat(task.output)  # a folder's sidecar
            current = existing is not None and is_current(
                existing.metadata, task.source, self.digest
            )
            if current and not self.force:
                self._finish(work, "skipped")
                return None
            data = self.src.read(task.source.name)
            work.size, work.digest = len(data), self.src.content_digest(data)
        return data

    def prepare(self, work: _Work, data: bytes) -> _Ready[P]:
        with _timed(work):
            return _Ready(work, self.model.prepare(data))

    def infer(self, batch: Sequence[_Ready[P]]) -> list[S]:
        start = time.perf_counter()
        answers = self.model.infer([ready.prepared for ready in batch])
        share = (time.perf_counter() - start) / len(batch)
        for ready in batch:
            ready.work.seconds += share
        return answers

    def finish(self, work: _Work, ready: _Ready[P], answer: S) -> Finished:
        with _timed(work):
            return self.model.finish(ready.prepared, answer, self.options)

    def store(self, work: _Work, output: Finished) -> None:
        task, existing = work.task, work.existing
        work.confidence = output.confidence
        source = task.source
        provenance = Provenance(source.name, source.generation, work.size, work.digest, self.digest)
        with _timed(work):
            try:
                result = self.dst.write(
                    task.output,
                    output.data,
                    provenance.to_metadata() | dict(self.metadata),
                    content_type=output.media_type,
                    if_absent=existing is None,
                    if_generation_match=None if existing is None else existing.generation,
                )
            except StorageNotFoundError as exc:
                self._halt(exc)  # the destination itself is gone
                raise
            if result.written:
                self._finish(work, "done")
                return
            # another writer got there first: fine if what it wrote is up to date
            now = self.dst.stat(task.output)
        if now is not None and is_current(now.metadata, source, self.digest):
            self._finish(work, "skipped")
        else:
            self._finish(
                work,
                "failed",
                f"{task.output} changed while it was being made (another writer?); "
                "the next run redoes it",
            )

    def failed(self, work: _Work, error: Exception) -> None:
        if isinstance(error, StoragePermissionError):
            self._halt(error)
        self._finish(work, "failed", self.describe(error))

    # -- reporting -----------------------------------------------------------------------
    def _finish(self, work: _Work, status: Status, error: str | None = None) -> None:
        confidence = work.confidence if status == "done" else None
        line = ReportLine(
            work.task.source.name, work.task.output, status, error, work.seconds, confidence
        )
        self._add(line)

    def _add(self, line: ReportLine) -> None:
        self.report.add(line)
        if self.on_line is not None:
            self.on_line(line)

    def _halt(self, error: StorageError) -> None:
        with self._fatal_lock:
            if self.fatal is None:
                self.fatal = error
        self.control.stop()
