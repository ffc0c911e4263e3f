"""The one table from error class to HTTP status, and remove.bg's error JSON.

Every error response of the server, on every route, has remove.bg's shape::

    {"errors": [{"code": "file_too_large", "title": "File too large", "detail": "..."}]}

:data:`STATUS_BY_CLASS` is looked up along the exception's MRO, so a row for a base class
covers its subclasses (``DecodeError`` covers ``UnsupportedFormatError``). Bad input is
always 4xx; only a model or device failure is 5xx.

The server adds a few errors of its own (auth, rate limit, overload, deadline); they
derive from :class:`~cutout.errors.CutoutError` so that the same table answers them.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cutout.errors import (
    ConfigError,
    CutoutError,
    DeviceError,
    FileTooLargeError,
    ImageTooLargeError,
    InputError,
    ModelError,
    UnknownModelError,
)

__all__ = [
    "STATUS_BY_CLASS",
    "AuthError",
    "ClientGoneError",
    "DeadlineExceededError",
    "NotReadyError",
    "OverloadedError",
    "RateLimitedError",
    "error_body",
    "error_response",
    "install_error_handlers",
    "status_for",
]


class AuthError(CutoutError):
    """The API key is missing or wrong."""

    code = "auth_failed"


class RateLimitedError(CutoutError):
    """The key spent its megapixels for this minute."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.headers = dict(headers)


class OverloadedError(CutoutError):
    """The queue is full: retry later (503 + Retry-After, answered at once)."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReadyError(OverloadedError):
    """The model is still loading (or failed to load)."""

    code = "not_ready"


class ClientGoneError(CutoutError):
    """The client closed the connection while its request waited; nobody reads the answer."""

    code = "client_closed_request"


class DeadlineExceededError(CutoutError):
    """The request waited past its deadline and was dropped without running."""

    code = "timeout"


STATUS_BY_CLASS: dict[type[BaseException], int] = {
    InputError: 400,
    FileTooLargeError: 413,
    ImageTooLargeError: 400,  # remove.bg answers resolution_too_high with 400
    UnknownModelError: 400,
    AuthError: 403,
    RateLimitedError: 429,
    OverloadedError: 503,
    DeadlineExceededError: 504,
    ClientGoneError: 499,  # nginx's "client closed request"; only the logs ever see it
    ModelError: 503,
    DeviceError: 503,
    ConfigError: 500,
    CutoutError: 500,
}

_TITLES: dict[str, str] = {
    "auth_failed": "Authentication failed",
    "rate_limit_exceeded": "Rate limit exceeded",
    "overloaded": "Server overloaded",
    "not_ready": "Model not ready",
    "timeout": "Request timed out",
    "missing_source": "No image given",
    "multiple_sources": "Multiple image sources given",
    "multiple_bg_sources": "Multiple background sources given",
    "failed_to_read_image": "Failed to read image",
    "invalid_file_type": "Invalid file type",
    "file_too_large": "File too large",
    "resolution_too_high": "Resolution too high",
    "unknown_foreground": "Could not identify foreground in image",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "invalid_parameters": "Invalid parameters",
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of ``exc``: the row of the nearest class in its MRO."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return 500


def _title(code: str) -> str:
    if code in _TITLES:
        return _TITLES[code]
    if code.startswith("invalid_"):
        return "Invalid " + code.removeprefix("invalid_").replace("_", " ")
    return code.replace("_", " ").capitalize()


def error_body(code: str, detail: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"code": code, "title": _title(code), "detail": detail}]}


def error_response(exc: CutoutError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers.update(exc.headers)
        headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(
        error_body(exc.code, exc.message), status_code=status_for(exc), headers=headers
    )


async def _cutout_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CutoutError)
    request.state.error_code = exc.code
    return error_response(exc)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        where = ".".join(str(item) for item in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    request.state.error_code = "invalid_parameters"
    return JSONResponse(error_body("invalid_parameters", "; ".join(parts)), status_code=400)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    request.state.error_code = code
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    # a bug, not bad input: Starlette logs the traceback; the client still gets JSON
    return JSONResponse(
        error_body("internal_error", "an unexpected error happened; it has been logged"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """One handler per family; :func:`status_for` does the per-class lookup."""
    app.add_exception_handler(CutoutError, _cutout_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
