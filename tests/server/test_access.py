"""API keys (hashed, constant-time) and megapixel rate limits, as units."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutout.errors import ConfigError
from cutout.server.auth import ANONYMOUS, KeyStore, load_keys
from cutout.server.errors import AuthError, RateLimitedError
from cutout.server.ratelimit import MegapixelLimiter


def test_open_when_no_keys() -> None:
    store = KeyStore()
    assert not store.enabled
    assert store.identify(None) == ANONYMOUS


def test_keys_are_stored_hashed() -> None:
    store = KeyStore(["s3cret-key"])
    assert "s3cret-key" not in repr(vars(store))
    assert all(len(digest) == 32 for digest in store._digests)


def test_identify() -> None:
    store = KeyStore(["alpha", "beta"])
    assert store.identify("alpha").startswith("key-")
    assert store.identify("alpha") != store.identify("beta")
    assert "alpha" not in store.identify("alpha")
    with pytest.raises(AuthError, match="missing"):
        store.identify(None)
    with pytest.raises(AuthError, match="invalid"):
        store.identify("alph")


def test_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("# shop keys\nfile-key\n\n  other-key  \n", encoding="utf-8")
    store = load_keys(["inline"], path)
    for key in ("inline", "file-key", "other-key"):
        store.identify(key)
    with pytest.raises(AuthError):
        store.identify("# shop keys")
    with pytest.raises(ConfigError):
        load_keys([], tmp_path / "missing.txt")


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_bucket() -> None:
    clock = _Clock(1_000_000.0)
    limiter = MegapixelLimiter(10.0, clock=clock)  # refills 1 MP every 6 s
    limiter.check("k")
    limiter.charge("k", 4.0)
    limiter.charge("k", 4.0)
    headers = limiter.headers("k")
    assert headers["X-RateLimit-Limit"] == "10"
    assert headers["X-RateLimit-Remaining"] == "2"
    assert headers["X-RateLimit-Reset"] == str(1_000_000 + 48)  # 8 MP to refill
    with pytest.raises(RateLimitedError) as info:
        limiter.charge("k", 4.0)
    assert info.value.retry_after_s == 12  # 2 MP more are needed
    assert info.value.headers["X-RateLimit-Remaining"] == "2"
    limiter.charge("other", 4.0)  # keys are counted apart
    limiter.charge("k", 2.0)
    with pytest.raises(RateLimitedError) as spent:
        limiter.check("k")  # empty: refused before any work
    assert spent.value.retry_after_s == 6
    clock.now += 30  # 5 MP back
    limiter.check("k")
    assert limiter.headers("k")["X-RateLimit-Remaining"] == "5"
    clock.now += 3600  # never more than the budget
    assert limiter.headers("k")["X-RateLimit-Remaining"] == "10"


def test_two_requests_seconds_apart_always_count_together() -> None:
    # a fixed one-minute window would forget the first one at the minute boundary
    clock = _Clock(59.5)
    limiter = MegapixelLimiter(1.0, clock=clock)
    limiter.charge("k", 0.67)
    clock.now = 61.0
    with pytest.raises(RateLimitedError):
        limiter.charge("k", 0.67)


def test_one_image_bigger_than_the_budget_runs_on_a_full_bucket() -> None:
    limiter = MegapixelLimiter(1.0, clock=_Clock(60.0))
    limiter.charge("k", 24.0)
    with pytest.raises(RateLimitedError):
        limiter.check("k")


def test_disabled_limiter_adds_nothing() -> None:
    limiter = MegapixelLimiter(None)
    assert limiter.charger("k") is None
    assert limiter.headers("k") == {}
