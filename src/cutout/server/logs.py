"""Structured logs in Cloud Logging's JSON format, and the per-request log + metrics.

One JSON object per line on stderr with ``severity``, ``message``, ``time``, and for
requests ``httpRequest`` (Cloud Logging's HttpRequest fields) and
``logging.googleapis.com/trace`` = ``projects/P/traces/ID`` taken from
``X-Cloud-Trace-Context: ID/SPAN;o=1`` (P from ``CUTOUT_GCP_PROJECT`` or
``GOOGLE_CLOUD_PROJECT``). Every response carries ``X-Request-Id`` (the caller's, when it
sent a sane one, else a new one), which is also in the log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from cutout.server.state import ServerState

__all__ = ["CloudJsonFormatter", "RequestLogMiddleware", "configure_logging", "trace_fields"]

_log = logging.getLogger("cutout.server.request")

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
_TRACE = re.compile(r"^([0-9a-fA-F]{1,32})(?:/(\d+))?(?:;o=([01]))?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def trace_fields(header: str | None, project: str | None) -> dict[str, Any]:
    """Cloud Logging's trace fields from an ``X-Cloud-Trace-Context`` header."""
    if not header or not project:
        return {}
    match = _TRACE.match(header.strip())
    if match is None:
        return {}
    trace_id, span_id, sampled = match.groups()
    fields: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}"
    }
    if span_id:
        fields["logging.googleapis.com/spanId"] = span_id
    if sampled is not None:
        fields["logging.googleapis.com/trace_sampled"] = sampled == "1"
    return fields


class CloudJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        extra = getattr(record, "cloud", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str, level: str) -> None:
    """Route cutout's and uvicorn's loggers to one stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(CloudJsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("cutout", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # requests are logged once, by RequestLogMiddleware, with the httpRequest fields
    logging.getLogger("uvicorn.access").disabled = True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


class RequestLogMiddleware:
    """Pure ASGI: request id, one log line and the request metrics per HTTP request."""

    def __init__(self, app: ASGIApp, *, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        status = 500
        size = 0

        async def observe(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._record(scope, request_id, status, size, time.perf_counter() - began)

    def _record(
        self, scope: Scope, request_id: str, status: int, size: int, seconds: float
    ) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "")
        metrics = self.state.metrics
        metrics.requests.labels(route=route, method=method, status=str(status)).inc()
        metrics.latency.labels(route=route).observe(seconds)
        if route in ("/health", "/metrics", "/ready") and status < 400:
            return  # probes every few seconds would drown the log
        query = scope.get("query_string", b"").decode("latin-1")
        url = scope.get("path", "") + (f"?{query}" if query else "")
        client = scope.get("client")
        cloud: dict[str, Any] = {
            "httpRequest": {
                "requestMethod": method,
                "requestUrl": url,
                "status": status,
                "responseSize": str(size),
                "userAgent": _header(scope, b"user-agent") or "",
                "remoteIp": client[0] if client else "",
                "latency": f"{seconds:.6f}s",
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            },
            "requestId": request_id,
            **trace_fields(
                _header(scope, b"x-cloud-trace-context"), self.state.settings.gcp_project
            ),
        }
        level = logging.ERROR if status >= 500 else logging.INFO
        _log.log(
            level, "%s %s %d %.1f ms", method, url, status, seconds * 1000, extra={"cloud": cloud}
        )
