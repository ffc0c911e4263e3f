"""``--report FILE.jsonl``: one JSON object per image, written as each image finishes.

Each line is a whole object, flushed when written, so that another program can follow the
file while the run goes on (``tail -f``) and a run that stops early leaves whole lines::

    {"input": "pets/rex.jpg", "output": "out/rex.png", "status": "ok", "error": null,
     "confidence": 0.873, "width": 1000, "height": 667, "model": "u2netp",
     "edges": "balanced", "seconds": 0.412}

``status`` is ``ok``, ``failed`` (``error`` says why) or ``skipped`` (``--skip-existing``).
``confidence``, ``width``, ``height`` and ``seconds`` (the engine's time for the image,
its stages summed) are null unless the image was written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import TracebackType
from typing import Literal

from cutout.cli._paths import STDIO, Job
from cutout.engine import RemoveResult
from cutout.options import EdgeLevel

__all__ = ["Report", "Status"]

Status = Literal["ok", "failed", "skipped"]


class Report:
    """A JSON Lines report, written from any thread; ``path`` is replaced."""

    def __init__(self, path: Path, *, edges: EdgeLevel) -> None:
        self.edges = edges
        # the run's model, for the lines of images that never reached it
        self.model: str | None = None
        self._lock = threading.Lock()
        self._file = path.open("w", encoding="utf-8")

    def __enter__(self) -> Report:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def image(self, job: Job, outcome: RemoveResult | str | None, status: Status) -> None:
        """The line of one input: ``outcome`` is its result, or the reason it failed."""
        result = outcome if isinstance(outcome, RemoveResult) else None
        if status == "ok":
            output: str | None = STDIO if job.output is None else str(job.output)
        else:
            output = None if job.output is None else str(job.output)
        record = {
            "input": job.display,
            "output": output,
            "status": status,
            "error": outcome if isinstance(outcome, str) else None,
            "confidence": None if result is None else round(result.confidence, 3),
            "width": None if result is None else result.width,
            "height": None if result is None else result.height,
            "model": self.model if result is None else result.model,
            "edges": self.edges if result is None else result.edges,
            "seconds": None if result is None else round(sum(result.timings.values()), 4),
        }
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
