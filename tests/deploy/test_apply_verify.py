"""The smoke test against a real ``cutout serve`` on loopback."""

from __future__ import annotations

from cutout.deploy.verify import SmokeExpectation, smoke_test
from tests.fakes.fixtures import smoke_image, standin
from tests.server.live import LiveServer, free_port

__all__ = ["smoke_image", "standin"]


def test_a_healthy_revision_passes_every_check(standin: LiveServer, smoke_image: bytes) -> None:
    report = smoke_test(standin.url, SmokeExpectation("u2netp", "cpu", 60000), smoke_image)
    assert report.ok, report.to_json()
    assert [c.name for c in report.checks] == ["/health", "/ready", "/model-info", "/v1/remove"]
    assert report.reason == ""


def test_a_gpu_revision_running_on_cpu_fails_at_model_info(
    standin: LiveServer, smoke_image: bytes
) -> None:
    report = smoke_test(
        standin.url, SmokeExpectation("inspyrenet-base", "cuda", 60000), smoke_image
    )
    assert not report.ok
    assert report.checks[-1].name == "/model-info"
    assert "model is 'u2netp', planned 'inspyrenet-base'" in report.reason
    assert "device is 'cpu', planned 'cuda'" in report.reason
    assert len(report.checks) == 3  # stops at the first failure: no image sent


def test_over_the_latency_target_fails(standin: LiveServer, smoke_image: bytes) -> None:
    report = smoke_test(standin.url, SmokeExpectation("u2netp", "cpu", 0.001), smoke_image)
    assert not report.ok
    assert report.checks[-1].name == "/v1/remove"
    assert "over the latency target" in report.reason


def test_an_image_the_server_refuses_fails_with_its_answer(standin: LiveServer) -> None:
    report = smoke_test(standin.url, SmokeExpectation("u2netp", "cpu", 60000), b"not an image")
    assert not report.ok
    assert report.reason.startswith("/v1/remove: HTTP 4")


def test_nothing_listening_fails_at_health(smoke_image: bytes) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    report = smoke_test(url, SmokeExpectation("u2netp", "cpu", 60000), smoke_image, timeout_s=5)
    assert not report.ok
    assert report.checks[0].name == "/health"
    assert "ConnectError" in report.reason
