"""Per-key rate limits in megapixels per minute (remove.bg's unit), as token buckets.

Each key has a bucket of ``per_minute`` megapixels that refills continuously at
``per_minute / 60`` per second, so two requests a few seconds apart always count
together (a fixed one-minute window would forget the first one at every minute
boundary). A request is refused with 429 + ``Retry-After`` at once when its key's bucket
is empty; an image is charged its input megapixels once they are known (after decoding,
before inference) and refused when the bucket holds less than that. An image larger
than the whole budget still runs when the bucket is full, so no image is refused
forever. Responses carry ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (unix time at which the bucket is full again).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cutout.server.errors import RateLimitedError

__all__ = ["MegapixelLimiter"]

_MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class MegapixelLimiter:
    def __init__(self, per_minute: float | None, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute is not None

    @property
    def _rate(self) -> float:
        assert self.per_minute is not None
        return self.per_minute / 60.0

    def _bucket(self, key: str, now: float) -> _Bucket:
        assert self.per_minute is not None
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:  # forget full buckets instead of growing
                self._buckets = {
                    name: kept
                    for name, kept in self._buckets.items()
                    if kept.tokens + (now - kept.updated) * self._rate < self.per_minute
                }
            bucket = self._buckets[key] = _Bucket(self.per_minute, now)
        else:
            refill = (now - bucket.updated) * self._rate
            bucket.tokens = min(self.per_minute, bucket.tokens + refill)
            bucket.updated = now
        return bucket

    def _headers(self, bucket: _Bucket, now: float) -> dict[str, str]:
        assert self.per_minute is not None
        full_at = now + (self.per_minute - bucket.tokens) / self._rate
        return {
            "X-RateLimit-Limit": f"{self.per_minute:g}",
            "X-RateLimit-Remaining": str(max(0, math.floor(bucket.tokens))),
            "X-RateLimit-Reset": str(math.ceil(full_at)),
        }

    def headers(self, key: str) -> dict[str, str]:
        if self.per_minute is None:
            return {}
        with self._lock:
            now = self._clock()
            return self._headers(self._bucket(key, now), now)

    def _refusal(self, bucket: _Bucket, now: float, needed: float) -> RateLimitedError:
        assert self.per_minute is not None
        wait = max(1, math.ceil((needed - bucket.tokens) / self._rate))
        return RateLimitedError(
            f"rate limit of {self.per_minute:g} megapixels per minute reached; retry in {wait} s",
            retry_after_s=wait,
            headers=self._headers(bucket, now),
        )

    def check(self, key: str) -> None:
        """Refuse at once when the key's bucket is empty."""
        if self.per_minute is None:
            return
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            if bucket.tokens <= 0:
                raise self._refusal(bucket, now, needed=min(1.0, self.per_minute))

    def charge(self, key: str, megapixels: float) -> None:
        if self.per_minute is None:
            return
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            if bucket.tokens < megapixels and bucket.tokens < self.per_minute:
                raise self._refusal(bucket, now, needed=min(megapixels, self.per_minute))
            bucket.tokens -= megapixels

    def charger(self, key: str) -> Callable[[float], None] | None:
        if self.per_minute is None:
            return None
        self.check(key)
        return lambda megapixels: self.charge(key, megapixels)
