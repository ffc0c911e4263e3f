"""One JSON line per item, one report file per shard, and a summary.

A shard's report is ``DST/.cutout/reports/shard-I-of-N.jsonl``::

    {"source": "a/red.jpg", "output": "a/red.png", "status": "done", "error": null, "seconds": 0.41}

Each shard owns its file, so no two tasks ever write the same object (Cloud Storage has no
append; a rewrite of a file nobody else writes is safe). :class:`ShardReport` keeps the
lines in memory and rewrites the whole file now and then and at the end; a retried task
attempt starts the file afresh, and since it finds finished items up to date it reports
them as ``skipped``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Literal, cast, get_args

from cutout.batch.errors import StorageError
from cutout.batch.shard import Shard
from cutout.batch.store import META_DIR, Store

__all__ = [
    "NDJSON",
    "REPORTS_DIR",
    "ReportLine",
    "ShardReport",
    "Status",
    "Summary",
    "read_reports",
    "report_name",
    "summarize",
]

Status = Literal["done", "skipped", "failed"]
REPORTS_DIR = META_DIR + "reports/"
NDJSON = "application/x-ndjson"
_STATUSES: tuple[str, ...] = get_args(Status)
_FAILURES_KEPT = 20


@dataclass(frozen=True)
class ReportLine:
    source: str
    output: str
    status: Status
    error: str | None = None
    seconds: float = 0.0
    # the cut-out's confidence (0-1, cutout.imaging.edges) for a done item: a shop sends
    # the doubtful ones to a person
    confidence: float | None = None

    def to_json(self) -> str:
        fields = asdict(self) | {"seconds": round(self.seconds, 3)}
        if self.confidence is None:
            del fields["confidence"]  # only a made cut-out has one
        else:
            fields["confidence"] = round(self.confidence, 3)
        return json.dumps(fields, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ReportLine:
        """One line of a report; ``ValueError`` if it is not one."""
        try:
            data = json.loads(text)
            status = data["status"]
            if status not in _STATUSES:
                raise ValueError(f"unknown status {status!r}")
            error = data.get("error")
            return cls(
                source=str(data["source"]),
                output=str(data["output"]),
                status=cast(Status, status),
                error=None if error is None else str(error),
                seconds=float(data.get("seconds", 0.0)),
                confidence=None if data.get("confidence") is None else float(data["confidence"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a report line: {text[:200]!r}") from exc


def report_name(shard: Shard) -> str:
    return f"{REPORTS_DIR}{shard.label}.jsonl"


@dataclass(frozen=True)
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0  # summed over items: work time, not wall time
    failures: tuple[ReportLine, ...] = ()  # the first few failed lines

    @property
    def total(self) -> int:
        return self.done + self.skipped + self.failed

    def to_dict(self) -> dict[str, object]:
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "total": self.total,
            "seconds": round(self.seconds, 3),
            "failures": [{"source": f.source, "error": f.error} for f in self.failures],
        }

    def __str__(self) -> str:
        return (
            f"{self.total} items: {self.done} done, {self.skipped} skipped (up to date), "
            f"{self.failed} failed; {self.seconds:.1f} s of work"
        )


def summarize(lines: Iterable[ReportLine]) -> Summary:
    counts = dict.fromkeys(_STATUSES, 0)
    seconds = 0.0
    failures: list[ReportLine] = []
    for line in lines:
        counts[line.status] += 1
        seconds += line.seconds
        if line.status == "failed" and len(failures) < _FAILURES_KEPT:
            failures.append(line)
    return Summary(counts["done"], counts["skipped"], counts["failed"], seconds, tuple(failures))


class ShardReport:
    """One shard's report: ``add`` lines from any thread; the file is rewritten when
    ``flush_interval_s`` has passed since the last write, and by ``flush`` (which raises
    a :class:`StorageError` if it cannot write)."""

    def __init__(
        self,
        store: Store,
        shard: Shard,
        *,
        flush_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.name = report_name(shard)
        self._lines: list[ReportLine] = []
        self._lock = threading.Lock()
        # held from reading the lines to the end of the write, so writes land in order
        self._flushing = threading.Lock()
        self._interval = flush_interval_s
        self._clock = clock
        self._last_flush = clock()
        self.flush_error: StorageError | None = None

    @property
    def lines(self) -> list[ReportLine]:
        with self._lock:
            return list(self._lines)

    def add(self, line: ReportLine) -> None:
        """Keep ``line``; rewrite the file if it is due. A rewrite that fails here is
        remembered in :attr:`flush_error` (the next one writes every line again), never
        raised: the caller is reporting an item, which must not fail because of this."""
        with self._lock:
            self._lines.append(line)
            due = self._clock() - self._last_flush >= self._interval
        if due:
            try:
                self.flush()
            except StorageError as exc:
                self.flush_error = exc

    def flush(self) -> None:
        with self._flushing:
            with self._lock:
                text = "".join(line.to_json() + "\n" for line in self._lines)
                self._last_flush = self._clock()
            self.store.write_text(self.name, text, content_type=NDJSON)

    def summary(self) -> Summary:
        return summarize(self.lines)


def read_reports(store: Store, count: int | None = None) -> list[ReportLine]:
    """The lines of every shard's report under ``.cutout/reports/`` (only the reports of
    an ``count``-shard run when ``count`` is given), in report-name order. Lines that do
    not parse are left out."""
    suffix = f"-of-{count}.jsonl" if count is not None else ".jsonl"
    lines = []
    for item in store.list(REPORTS_DIR):
        if not (item.name.startswith(REPORTS_DIR + "shard-") and item.name.endswith(suffix)):
            continue
        for text in store.read(item.name).decode("utf-8").splitlines():
            try:
                lines.append(ReportLine.from_json(text))
            except ValueError:
                continue
    return lines
