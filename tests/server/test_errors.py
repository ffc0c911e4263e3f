"""The one error table: a row for a base class covers its subclasses; bad input is 4xx."""

from __future__ import annotations

import httpx
import pytest

from cutout import errors
from cutout.backends.fake import FakeBackend
from cutout.config import Settings
from cutout.engine import Engine
from cutout.server.app import create_app
from cutout.server.errors import (
    STATUS_BY_CLASS,
    AuthError,
    DeadlineExceededError,
    NotReadyError,
    OverloadedError,
    RateLimitedError,
    error_body,
    error_response,
    status_for,
)
from tests.server.live import serve_in_thread


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.DecodeError("x"), 400),
        (errors.UnsupportedFormatError("x"), 400),  # covered by DecodeError -> InputError
        (errors.FileTooLargeError("x"), 413),
        (errors.ImageTooLargeError("x"), 400),
        (errors.InvalidOptionError("x", code="invalid_bg_color"), 400),
        (errors.NoForegroundError("x"), 400),
        (errors.UnknownModelError("x"), 400),
        (errors.WeightsMissingError("x"), 503),  # covered by ModelError
        (errors.DeviceError("x"), 503),
        (AuthError("x"), 403),
        (RateLimitedError("x", retry_after_s=3, headers={}), 429),
        (OverloadedError("x"), 503),
        (NotReadyError("x"), 503),
        (DeadlineExceededError("x"), 504),
        (errors.ConfigError("x"), 500),
    ],
)
def test_status_follows_the_nearest_class(exc: errors.CutoutError, status: int) -> None:
    assert status_for(exc) == status


def test_every_input_error_subclass_is_4xx() -> None:
    for cls in errors.InputError.__subclasses__():
        assert 400 <= status_for(cls("bad")) < 500, cls


def test_the_table_is_keyed_by_classes_only() -> None:
    assert all(isinstance(cls, type) for cls in STATUS_BY_CLASS)
    assert status_for(ValueError("not ours")) == 500


def test_error_body_has_remove_bg_shape() -> None:
    body = error_body("invalid_bg_color", "'zzz' is not a colour")
    assert body == {
        "errors": [
            {
                "code": "invalid_bg_color",
                "title": "Invalid bg color",
                "detail": "'zzz' is not a colour",
            }
        ]
    }
    assert error_body("missing_source", "d")["errors"][0]["title"] == "No image given"


def test_retry_after_headers() -> None:
    response = error_response(
        RateLimitedError("slow down", retry_after_s=7, headers={"X-RateLimit-Remaining": "0"})
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert error_response(OverloadedError("busy", retry_after_s=2)).headers["retry-after"] == "2"


def test_an_unexpected_exception_is_a_json_500() -> None:
    backend = FakeBackend()
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with serve_in_thread(app) as url:
        response = httpx.get(f"{url}/broken")
        assert response.status_code == 500
        assert response.json()["errors"][0]["code"] == "internal_error"
        assert "a bug" not in response.text  # internals stay in the log
        assert httpx.get(f"{url}/health").status_code == 200
