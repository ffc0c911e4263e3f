"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

Failure lines go through :meth:`Progress.line` so that they never mix with the bar: the bar
is cleared, the line printed, the bar drawn again. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 24
_REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, total: int, stream: TextIO, *, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._drawn_at = 0.0

    def advance(self, *, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += int(failed)
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_SECONDS or self.done == self.total:
                self._draw(now)

    def line(self, text: str) -> None:
        """Print ``text`` on its own line above the bar."""
        with self._lock:
            if self.enabled:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            if self.enabled:
                self._draw(time.monotonic())
            self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.enabled:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
                self.enabled = False

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        self._drawn_at = now
        filled = round(_WIDTH * self.done / self.total)
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        text = f"[{'#' * filled}{'-' * (_WIDTH - filled)}] {self.done}/{self.total}"
        if self.failed:
            text += f"  {self.failed} failed"
        if self.done:
            remaining = (self.total - self.done) / rate
            text += f"  {rate:.1f} img/s  eta {remaining:.0f}s"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
