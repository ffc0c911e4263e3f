"""Request body limits, enforced while the body streams in.

:class:`BodyLimitMiddleware` refuses a declared ``Content-Length`` over the limit before
reading anything, and counts the bytes of bodies without one (chunked uploads) as they
arrive, raising :class:`FileTooLargeError` (413 ``file_too_large``) at the first byte
over. Nothing is buffered to find out that a body is too big.

Base64 bodies (JSON and form-urlencoded, where remove.bg clients put
``image_file_b64``) are 4/3 the size of the file they carry, so they get a
proportionally larger cap; each decoded file is checked against the plain limit again.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cutout.errors import FileTooLargeError
from cutout.server.errors import error_body

__all__ = ["BodyLimitMiddleware", "body_limit", "check_file_size"]

# room for multipart headers and the small option fields next to the file(s)
_OVERHEAD = 1024 * 1024


def body_limit(max_upload_bytes: int, content_type: str) -> int:
    """The largest body accepted for a request of this content type."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("application/json", "application/x-www-form-urlencoded"):
        return max_upload_bytes * 4 // 3 + _OVERHEAD
    if kind == "multipart/form-data":
        # a photo and a background photo (remove.bg's bg_image_file)
        return 2 * max_upload_bytes + _OVERHEAD
    return max_upload_bytes


def check_file_size(data: bytes, max_upload_bytes: int, what: str = "the image") -> None:
    if len(data) > max_upload_bytes:
        raise FileTooLargeError(
            f"{what} is {len(data)} bytes; the limit is {max_upload_bytes} bytes"
        )


def _too_large(limit: int) -> FileTooLargeError:
    return FileTooLargeError(f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Pure ASGI middleware: cap every HTTP request body by its content type."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = body_limit(self.max_upload_bytes, content_type)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps(error_body("file_too_large", _too_large(limit).message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
