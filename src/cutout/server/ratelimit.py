"""Per-key rate limits in megapixels per minute (remove.bg's unit), fixed one-minute windows.

A request is refused with 429 + ``Retry-After`` when its key has already spent the
minute's budget; an image is charged its input megapixels once they are known (after
decoding, before inference). A single image larger than the whole budget still runs when
the window is fresh, so no image is refused forever. Every image response carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (unix time).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cutout.server.errors import RateLimitedError

__all__ = ["MegapixelLimiter"]

WINDOW_S = 60.0


@dataclass
class _Window:
    start: float
    used: float = 0.0


class MegapixelLimiter:
    def __init__(self, per_minute: float | None, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute is not None

    def _window(self, key: str, now: float) -> _Window:
        start = math.floor(now / WINDOW_S) * WINDOW_S
        window = self._windows.get(key)
        if window is None or window.start != start:
            if len(self._windows) > 10_000:  # forget stale keys instead of growing
                self._windows = {k: w for k, w in self._windows.items() if w.start == start}
            window = self._windows[key] = _Window(start)
        return window

    def headers(self, key: str) -> dict[str, str]:
        if self.per_minute is None:
            return {}
        with self._lock:
            window = self._window(key, self._clock())
            remaining = max(0.0, self.per_minute - window.used)
            reset = window.start + WINDOW_S
        return {
            "X-RateLimit-Limit": f"{self.per_minute:g}",
            "X-RateLimit-Remaining": f"{math.floor(remaining)}",
            "X-RateLimit-Reset": str(int(reset)),
        }

    def _refusal(self, key: str, now: float, window: _Window) -> RateLimitedError:
        retry_after = max(1, math.ceil(window.start + WINDOW_S - now))
        assert self.per_minute is not None
        return RateLimitedError(
            f"rate limit of {self.per_minute:g} megapixels per minute reached; "
            f"retry in {retry_after} s",
            retry_after_s=retry_after,
            headers={
                "X-RateLimit-Limit": f"{self.per_minute:g}",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(window.start + WINDOW_S)),
            },
        )

    def check(self, key: str) -> None:
        """Refuse at once when the key's budget for this minute is spent."""
        if self.per_minute is None:
            return
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if window.used >= self.per_minute:
                raise self._refusal(key, now, window)

    def charge(self, key: str, megapixels: float) -> None:
        if self.per_minute is None:
            return
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if window.used > 0 and window.used + megapixels > self.per_minute:
                raise self._refusal(key, now, window)
            window.used += megapixels

    def charger(self, key: str) -> Callable[[float], None] | None:
        if self.per_minute is None:
            return None
        self.check(key)
        return lambda megapixels: self.charge(key, megapixels)
