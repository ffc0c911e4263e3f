"""The service under pressure, on real processes: readiness, SIGTERM, overload, deadlines,
batching, access control and body limits.

Where a test needs a slow model to hold requests in flight deterministically it serves
the fake backend (``live_server(fake_delay_s=...)``: the same serve code on a fake
engine); batching is checked on the real u2netp model.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from cutout.backends.fake import FakeBackend
from cutout.config import Settings
from cutout.engine import Engine
from cutout.errors import DeviceError
from cutout.server.app import create_app
from tests.conftest import EXAMPLES
from tests.server.live import LiveServer, live_server, serve_in_thread

PHOTO = EXAMPLES / "animal-1.jpg"  # 1000 x 667 = 0.667 MP


def _png(size: tuple[int, int] = (96, 64)) -> bytes:
    image = Image.new("RGB", size, (20, 30, 40))
    image.paste((230, 200, 90), (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _code(response: httpx.Response) -> str:
    (error,) = response.json()["errors"]
    code: str = error["code"]
    return code


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, flags=re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _wait_until(predicate: object, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _accepts(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=0.5)
    except httpx.TransportError:
        return False
    return True


# -- readiness -------------------------------------------------------------------------
class _BlockingBackend(FakeBackend):
    """Loads only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def load(self) -> None:
        self.release.wait(30)
        super().load()


def test_ready_turns_200_after_the_model_is_warm() -> None:
    backend = _BlockingBackend()
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200  # answers while loading
        loading = client.get("/ready")
        assert loading.status_code == 503
        assert loading.json()["status"] == "loading"
        assert "retry-after" in loading.headers
        early = client.post("/v1/remove", content=_png())
        assert early.status_code == 503 and _code(early) == "not_ready"
        assert early.headers["retry-after"] == "2"
        backend.release.set()
        _wait_until(lambda: client.get("/ready").status_code == 200)
        assert client.post("/v1/remove", content=_png()).status_code == 200
        assert backend.batches[0] == 1  # the warm-up forward ran before the request


def test_ready_is_503_after_a_fatal_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.onnx"
    with live_server(["--weights", str(missing)], wait="health") as server:
        _wait_until(lambda: httpx.get(f"{server.url}/ready").json()["status"] != "loading")
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "failed"
        assert "missing.onnx" in ready.json()["errors"][0]["detail"]
        refused = httpx.post(f"{server.url}/v1/remove", content=_png())
        assert refused.status_code == 503 and _code(refused) == "not_ready"
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert httpx.get(f"{server.url}/model-info").json()["status"] == "failed"


# -- SIGTERM ---------------------------------------------------------------------------
def test_sigterm_finishes_in_flight_work_and_exits_0() -> None:
    with live_server(fake_delay_s=1.5) as server:
        outcome: dict[str, object] = {}

        def call() -> None:
            response = httpx.post(f"{server.url}/v1/remove", content=_png(), timeout=30)
            outcome["status"] = response.status_code
            outcome["done"] = time.monotonic()

        thread = threading.Thread(target=call)
        thread.start()
        _wait_until(
            lambda: _metric(httpx.get(f"{server.url}/metrics").text, "cutout_queue_depth") >= 1
        )
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # new connections are refused while the request in flight is still running
        _wait_until(lambda: not _accepts(server.url), timeout=1.0)
        assert "done" not in outcome
        code = server.process.wait(20)
        thread.join(20)
        assert outcome["status"] == 200  # the request in flight was answered
        assert isinstance(outcome["done"], float) and outcome["done"] > signalled
        assert code == 0
        assert "Finished server process" in server.log()


# -- overload, deadlines, batching -----------------------------------------------------
async def _burst(url: str, count: int, data: bytes) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(client.post("/v1/remove", content=data) for _ in range(count))
        )


def test_overload_answers_every_request_with_bounded_memory() -> None:
    env = {"CUTOUT_QUEUE_SIZE": "4", "CUTOUT_MAX_BATCH": "2"}
    with live_server(env=env, fake_delay_s=0.2) as server:
        data = _png((400, 300))
        asyncio.run(_burst(server.url, 2, data))  # warm the pools before measuring
        before = _rss_kib(server.process.pid)
        responses = asyncio.run(_burst(server.url, 48, data))
        after = _rss_kib(server.process.pid)
        statuses = [response.status_code for response in responses]
        assert len(statuses) == 48
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 4 and statuses.count(503) >= 1
        for response in responses:
            if response.status_code == 503:
                assert _code(response) == "overloaded"
                assert int(response.headers["retry-after"]) >= 1
        assert after - before < 200 * 1024, (before, after)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert _metric(metrics, "cutout_queue_depth") == 0
        assert _metric(metrics, "cutout_requests_in_flight") == 0
        rejected = _metric(metrics, 'cutout_rejected_total{reason="queue_full"}')
        assert rejected == statuses.count(503)
        assert server.alive


def test_requests_past_their_deadline_get_504_and_never_run() -> None:
    env = {"CUTOUT_REQUEST_TIMEOUT_S": "0.5", "CUTOUT_MAX_BATCH": "1"}
    with live_server(env=env, fake_delay_s=1.0) as server:
        before = _metric(httpx.get(f"{server.url}/metrics").text, "cutout_batch_size_count")
        responses = asyncio.run(_burst(server.url, 3, _png()))
        assert [response.status_code for response in responses] == [504, 504, 504]
        assert {_code(response) for response in responses} == {"timeout"}
        time.sleep(1.5)  # let the one forward that started finish
        metrics = httpx.get(f"{server.url}/metrics").text
        # at most the first request reached the model; the queued ones were dropped
        assert _metric(metrics, "cutout_batch_size_count") - before <= 1
        assert _metric(metrics, 'cutout_rejected_total{reason="deadline"}') >= 2


def test_overload_is_refused_at_admission_not_left_to_expire() -> None:
    """More queued work than the deadline allows: 503 at once, not 504 after waiting."""
    env = {
        "CUTOUT_REQUEST_TIMEOUT_S": "3",
        "CUTOUT_MAX_BATCH": "1",
        "CUTOUT_QUEUE_SIZE": "64",
    }
    with live_server(env=env, fake_delay_s=0.3) as server:
        data = _png((200, 150))
        asyncio.run(_burst(server.url, 1, data))  # one forward measures the service time
        responses = asyncio.run(_burst(server.url, 24, data))
        statuses = [response.status_code for response in responses]
        # 24 x 0.3 s = 7.2 s of work cannot fit in 3 s: the excess is refused up front
        assert statuses.count(504) == 0, statuses
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 3
        assert statuses.count(503) >= 8
        refused = [response for response in responses if response.status_code == 503]
        assert all(int(response.headers["retry-after"]) >= 1 for response in refused)
        assert {_code(response) for response in refused} == {"overloaded"}


def test_concurrent_requests_are_batched_on_u2netp() -> None:
    env = {"CUTOUT_BATCH_WAIT_MS": "50", "CUTOUT_MAX_BATCH": "8", "CUTOUT_DEVICE": "cpu"}
    with live_server(env=env) as server:
        responses = asyncio.run(_burst(server.url, 8, _png((320, 240))))
        assert [response.status_code for response in responses] == [200] * 8
        metrics = httpx.get(f"{server.url}/metrics").text
        count = _metric(metrics, "cutout_batch_size_count")
        total = _metric(metrics, "cutout_batch_size_sum")
        single = _metric(metrics, 'cutout_batch_size_bucket{le="1.0"}')
        assert total == 8
        assert count < 8  # fewer forwards than images
        assert single < count or count == 1  # at least one forward held several images


# -- access ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded() -> Iterator[LiveServer]:
    env = {
        "CUTOUT_API_KEYS": "shop-key-1,shop-key-2",
        "CUTOUT_RATE_LIMIT_MP_PER_MINUTE": "1",
        "CUTOUT_MAX_UPLOAD_BYTES": "1000000",
    }
    with live_server(env=env, fake_delay_s=0) as server:
        yield server


def test_api_keys(guarded: LiveServer) -> None:
    photo = _png()
    for headers in ({}, {"X-Api-Key": "wrong"}):
        for response in (
            httpx.post(f"{guarded.url}/v1/remove", content=photo, headers=headers),
            httpx.post(
                f"{guarded.url}/v1.0/removebg", files={"image_file": photo}, headers=headers
            ),
            httpx.get(f"{guarded.url}/v1.0/account", headers=headers),
        ):
            assert response.status_code == 403
            assert _code(response) == "auth_failed"
    assert httpx.get(f"{guarded.url}/health").status_code == 200
    assert httpx.get(f"{guarded.url}/ready").status_code == 200
    ok = httpx.post(f"{guarded.url}/v1/remove", content=photo, headers={"X-Api-Key": "shop-key-2"})
    assert ok.status_code == 200


def test_rate_limit_in_megapixels(guarded: LiveServer) -> None:
    photo = PHOTO.read_bytes()
    key = {"X-Api-Key": "shop-key-1"}
    first = httpx.post(f"{guarded.url}/v1/remove", content=photo, headers=key, timeout=60)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit"] == "1"
    assert first.headers["x-ratelimit-remaining"] == "0"  # 1 - 0.667, floored
    assert int(first.headers["x-ratelimit-reset"]) > time.time()
    second = httpx.post(f"{guarded.url}/v1/remove", content=photo, headers=key, timeout=60)
    assert second.status_code == 429
    assert _code(second) == "rate_limit_exceeded"
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert second.headers["x-ratelimit-remaining"] == "0"
    other = httpx.post(
        f"{guarded.url}/v1/remove", content=_png(), headers={"X-Api-Key": "shop-key-2"}
    )
    assert other.status_code == 200  # keys are counted apart


def test_body_limits_while_streaming(guarded: LiveServer) -> None:
    key = {"X-Api-Key": "shop-key-2"}
    big = b"\0" * 1_500_000
    declared = httpx.post(f"{guarded.url}/v1/remove", content=big, headers=key)
    assert declared.status_code == 413 and _code(declared) == "file_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"\0" * 100_000

    chunked = httpx.post(f"{guarded.url}/v1/remove", content=chunks(), headers=key)
    assert chunked.status_code == 413 and _code(chunked) == "file_too_large"
    assert httpx.get(f"{guarded.url}/health").status_code == 200


def test_a_client_that_disconnects_frees_its_place() -> None:
    with live_server(env={"CUTOUT_MAX_BATCH": "1"}, fake_delay_s=2.0) as server:
        metrics_url = f"{server.url}/metrics"
        before = _metric(httpx.get(metrics_url).text, "cutout_batch_size_count")
        holder = threading.Thread(
            target=httpx.post,
            args=(f"{server.url}/v1/remove",),
            kwargs={"content": _png(), "timeout": 30},
        )
        holder.start()
        _wait_until(lambda: _metric(httpx.get(metrics_url).text, "cutout_queue_depth") >= 1)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v1/remove", content=_png(), timeout=0.3)
        # the abandoned request leaves while the first one still holds the model
        _wait_until(
            lambda: _metric(httpx.get(metrics_url).text, "cutout_requests_in_flight") == 1,
            timeout=1.5,
        )
        holder.join(30)
        time.sleep(0.3)
        metrics = httpx.get(metrics_url).text
        assert _metric(metrics, "cutout_batch_size_count") - before == 1  # it never ran
        assert _metric(metrics, 'cutout_rejected_total{reason="client_gone"}') == 1


def test_a_device_failure_during_a_request_turns_ready_503() -> None:
    backend = FakeBackend()
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        _wait_until(lambda: client.get("/ready").status_code == 200)
        backend.fail_with.append(DeviceError("CUDA error: an illegal memory access"))
        failed = client.post("/v1/remove", content=_png())
        assert failed.status_code == 503 and _code(failed) == "device_error"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert "illegal memory access" in ready.json()["errors"][0]["detail"]
        assert _code(client.post("/v1/remove", content=_png())) == "not_ready"


class _ThreadRecordingBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        return super().predict(batch)


def test_model_and_decoding_never_run_on_the_event_loop() -> None:
    backend = _ThreadRecordingBackend()
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))
    state = app.state.cutout
    decode = state.decode
    decoders: list[str] = []

    def recording_decode(data: bytes) -> object:
        decoders.append(threading.current_thread().name)
        return decode(data)

    state.decode = recording_decode
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        _wait_until(lambda: client.get("/ready").status_code == 200)
        assert client.post("/v1/remove", content=_png()).status_code == 200
        assert client.post("/v1.0/removebg", files={"image_file": _png()}).status_code == 200
    # the event loop runs in the "uvicorn-test" thread; the model only in its own threads
    assert backend.threads[0] == "cutout-loader"  # the warm-up
    assert backend.threads[1:] == ["cutout-batcher", "cutout-batcher"]
    assert len(decoders) == 2
    assert all(name.startswith("cutout-io") for name in decoders), decoders
