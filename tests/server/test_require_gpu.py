"""``--require-gpu`` in the server: never a silent slow instance.

When the model cannot run on a GPU (at start-up, or after a fallback to the CPU at run
time) ``/ready`` and ``/health`` answer 503 ``gpu_unavailable`` with the reason, image
requests are refused, an ERROR line is logged and ``cutout_gpu_unavailable`` is 1.
Without the setting, a CPU fallback keeps serving as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from cutout.config import Settings
from cutout.engine import Engine
from cutout.server.app import create_app
from tests.server.conftest import PHOTO
from tests.server.live import live_server, serve_in_thread
from tests.test_require_gpu import GpuBackend

INIT_FAILED = "cuda failed to initialise (RuntimeError: no CUDA-capable device is detected) -> cpu"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.ERROR]


@pytest.fixture
def server_log() -> Iterator[_Lines]:
    # on cutout.server itself: configure_logging (other tests) turns propagation off
    handler = _Lines()
    logger = logging.getLogger("cutout.server")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _settled(url: str, timeout: float = 20.0) -> httpx.Response:
    """``/ready`` once the model has loaded or failed."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{url}/ready")
        if response.json()["status"] != "loading" or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def _gauge(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("cutout_gpu_unavailable "):
            return float(line.split()[1])
    raise AssertionError("cutout_gpu_unavailable is not exported")


def _error(response: httpx.Response) -> dict[str, str]:
    error: dict[str, str] = response.json()["errors"][0]
    return error


def test_a_gpu_that_failed_to_initialise_keeps_the_instance_unready(
    server_log: _Lines,
) -> None:
    backend = GpuBackend(kind="cpu", fallbacks=(INIT_FAILED,))
    app = create_app(Settings(require_gpu=True), engine=Engine(backend.spec, backend=backend))
    with serve_in_thread(app) as url:
        ready = _settled(url)
        assert ready.status_code == 503
        assert ready.json()["status"] == "failed"
        assert _error(ready)["code"] == "gpu_unavailable"
        assert INIT_FAILED in _error(ready)["detail"]

        health = httpx.get(f"{url}/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert _error(health)["code"] == "gpu_unavailable"
        assert INIT_FAILED in _error(health)["detail"]

        image = httpx.post(f"{url}/v1/remove", content=PHOTO.read_bytes())
        assert image.status_code == 503
        assert INIT_FAILED in _error(image)["detail"]
        assert _gauge(url) == 1
        assert httpx.get(f"{url}/model-info").json()["require_gpu"] is True
    assert backend.batches == []  # nothing ever ran on the CPU
    assert any(INIT_FAILED in line for line in server_log.errors())


def test_a_fallback_to_the_cpu_after_start_takes_the_instance_out(server_log: _Lines) -> None:
    backend = GpuBackend()
    app = create_app(Settings(require_gpu=True), engine=Engine(backend.spec, backend=backend))
    with serve_in_thread(app) as url:
        assert _settled(url).status_code == 200
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert httpx.post(f"{url}/v1/remove", content=PHOTO.read_bytes()).status_code == 200
        assert _gauge(url) == 0

        backend.fall_back_on_next = True  # e.g. out of memory at batch 1 -> cpu
        failed = httpx.post(f"{url}/v1/remove", content=PHOTO.read_bytes())
        assert failed.status_code == 503
        assert _error(failed)["code"] == "gpu_unavailable"

        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503 and _error(ready)["code"] == "gpu_unavailable"
        assert "out of memory at batch 1 -> cpu" in _error(ready)["detail"]
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503  # the liveness probe restarts the instance
        assert _gauge(url) == 1
        ran = len(backend.batches)
        refused = httpx.post(f"{url}/v1/remove", content=PHOTO.read_bytes())
        assert refused.status_code == 503 and _error(refused)["code"] == "not_ready"
        assert len(backend.batches) == ran
    assert [line for line in server_log.errors() if "can no longer serve" in line]


def test_without_require_gpu_a_cpu_fallback_still_serves() -> None:
    backend = GpuBackend(kind="cpu", fallbacks=(INIT_FAILED,))
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))
    with serve_in_thread(app) as url:
        assert _settled(url).status_code == 200
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert httpx.get(f"{url}/model-info").json()["fallbacks"] == [INIT_FAILED]
        assert _gauge(url) == 0


def test_cutout_serve_require_gpu_on_a_machine_without_one() -> None:
    """The real command and model (u2netp on ONNX Runtime's CPU provider here)."""
    with live_server(["--require-gpu"], wait="listening") as server:
        ready = _settled(server.url, timeout=60)
        assert ready.status_code == 503
        assert _error(ready)["code"] == "gpu_unavailable"
        assert "u2netp runs on the CPU" in _error(ready)["detail"]
        assert httpx.get(f"{server.url}/health").status_code == 503
        entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        errors = [e for e in entries if e["severity"] == "ERROR"]
        assert any("a GPU is required" in e["message"] for e in errors), entries
