"""The batcher: coalesces concurrent jobs, drops expired and abandoned ones, bounds its queue.

These run the real Batcher on the fake backend (a slow model held by ``delay_s``), so
that which job waits behind which is decided by the test, not by timing luck.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from cutout.backends.fake import FakeBackend
from cutout.engine import Engine, Prepared
from cutout.errors import DeviceError
from cutout.server.batcher import Batcher
from cutout.server.errors import DeadlineExceededError, OverloadedError


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.full((40, 48, 3), 30, np.uint8)
    pixels[10:30, 12:36] = rng.integers(150, 255, size=3, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def slow() -> Iterator[tuple[Engine, FakeBackend]]:
    backend = FakeBackend(delay_s=0.3)
    engine = Engine(backend.spec, backend=backend)
    engine.load()
    yield engine, backend
    engine.close()


def _prepared(engine: Engine, count: int) -> list[Prepared]:
    return [engine.prepare(_png(seed)) for seed in range(count)]


async def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_concurrent_jobs_share_one_forward(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    seen: list[int] = []
    batcher = Batcher(engine, max_batch=4, max_wait_s=2.0, queue_size=8, on_batch=seen.append)
    batcher.start()
    items = _prepared(engine, 4)

    async def run() -> list[np.ndarray]:
        far = time.monotonic() + 30
        return await asyncio.gather(*(batcher.infer(item, far) for item in items))

    try:
        results = asyncio.run(run())
    finally:
        batcher.stop(5)
    assert backend.batches == [4]
    assert seen == [4]
    # each caller gets its own image's saliency, in order
    for item, result in zip(items, results, strict=True):
        expected = FakeBackend(delay_s=0)
        expected.load()
        assert np.allclose(result, expected.predict(item.tensor[None])[0])


def test_a_full_batch_does_not_wait_for_the_deadline(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    batcher = Batcher(engine, max_batch=2, max_wait_s=60.0, queue_size=8)
    batcher.start()
    items = _prepared(engine, 2)

    async def run() -> None:
        far = time.monotonic() + 30
        await asyncio.wait_for(
            asyncio.gather(*(batcher.infer(item, far) for item in items)), timeout=20
        )

    try:
        asyncio.run(run())
    finally:
        batcher.stop(5)
    assert backend.batches == [2]


def test_expired_job_gets_504_and_never_runs(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    batcher = Batcher(engine, max_batch=1, max_wait_s=0.0, queue_size=8)
    batcher.start()
    first, second = _prepared(engine, 2)

    async def run() -> None:
        running = asyncio.ensure_future(batcher.infer(first, time.monotonic() + 30))
        await _wait_for(lambda: backend.batches)  # the first job holds the model
        with pytest.raises(DeadlineExceededError):
            await batcher.infer(second, time.monotonic() + 0.05)
        await running

    try:
        asyncio.run(run())
    finally:
        batcher.stop(5)
    assert backend.batches == [1]  # the expired job was dropped, not run


def test_full_queue_refuses_at_once(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    batcher = Batcher(engine, max_batch=1, max_wait_s=0.0, queue_size=1)
    batcher.start()
    first, second, third = _prepared(engine, 3)

    async def run() -> None:
        far = time.monotonic() + 30
        running = asyncio.ensure_future(batcher.infer(first, far))
        await _wait_for(lambda: backend.batches)
        queued = asyncio.ensure_future(batcher.infer(second, far))
        await _wait_for(lambda: batcher.depth == 2)
        with pytest.raises(OverloadedError):
            await batcher.infer(third, far)
        await asyncio.gather(running, queued)

    try:
        asyncio.run(run())
    finally:
        batcher.stop(5)
    assert backend.batches == [1, 1]


def test_abandoned_job_is_skipped(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    batcher = Batcher(engine, max_batch=1, max_wait_s=0.0, queue_size=4)
    batcher.start()
    first, second, third = _prepared(engine, 3)

    async def run() -> None:
        far = time.monotonic() + 30
        running = asyncio.ensure_future(batcher.infer(first, far))
        await _wait_for(lambda: backend.batches)
        abandoned = asyncio.ensure_future(batcher.infer(second, far))
        await _wait_for(lambda: batcher.depth == 2)
        abandoned.cancel()  # what a client disconnect does to the request's task
        await running
        await batcher.infer(third, far)

    try:
        asyncio.run(run())
    finally:
        batcher.stop(5)
    assert backend.batches == [1, 1]


def test_backend_failure_answers_every_waiter(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    backend.fail_with.append(RuntimeError("CUDA error: device lost"))
    batcher = Batcher(engine, max_batch=2, max_wait_s=1.0, queue_size=4)
    batcher.start()
    items = _prepared(engine, 2)

    async def run() -> list[object]:
        far = time.monotonic() + 30
        return await asyncio.gather(
            *(batcher.infer(item, far) for item in items), return_exceptions=True
        )

    try:
        outcomes = asyncio.run(run())
    finally:
        batcher.stop(5)
    assert [type(outcome).__name__ for outcome in outcomes] == ["ModelError", "ModelError"]


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_wait_s": -1.0}, {"queue_size": 0}])
def test_bad_configuration_is_refused(
    slow: tuple[Engine, FakeBackend], kwargs: dict[str, float]
) -> None:
    settings: dict[str, float] = {"max_batch": 1, "max_wait_s": 0.0, "queue_size": 1, **kwargs}
    with pytest.raises(ValueError):
        Batcher(
            slow[0],
            max_batch=int(settings["max_batch"]),
            max_wait_s=settings["max_wait_s"],
            queue_size=int(settings["queue_size"]),
        )


def test_a_device_failure_is_reported_as_fatal(slow: tuple[Engine, FakeBackend]) -> None:
    engine, backend = slow
    backend.fail_with.append(DeviceError("CUDA device lost; CPU fallback failed"))
    fatal: list[str] = []
    batcher = Batcher(
        engine,
        max_batch=1,
        max_wait_s=0.0,
        queue_size=4,
        on_fatal=lambda exc: fatal.append(exc.message),
    )
    batcher.start()
    (item,) = _prepared(engine, 1)
    try:
        with pytest.raises(DeviceError):
            asyncio.run(batcher.infer(item, time.monotonic() + 30))
    finally:
        batcher.stop(5)
    assert fatal == ["CUDA device lost; CPU fallback failed"]
