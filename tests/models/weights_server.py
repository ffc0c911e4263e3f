"""A real HTTP server on 127.0.0.1 that serves weights files the ways servers misbehave.

Paths (``PAYLOAD`` is the good file's bytes):

- ``/good.bin``: the whole file, Range supported (206 with Content-Range);
- ``/norange.bin``: the whole file, Range ignored (always 200);
- ``/wrong.bin``: a file of the right length with different bytes;
- ``/cut.bin``: always closes the connection after half of the promised bytes;
- ``/flaky.bin``: the first request is cut off half way, later ones support Range;
- ``/missing.bin``: 404;
- any path put in ``server.files``: those bytes.

Every request is recorded as ``(path, Range header or None)`` in ``server.requests``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cutout.models.spec import ModelSpec, WeightsSource

__all__ = ["PAYLOAD", "WeightsServer", "serve", "spec_for"]

PAYLOAD = bytes(range(256)) * 2048 + b"tail"  # 512 KiB + 4 bytes, not a round number
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class WeightsServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, str | None]]
    flaky_served: int
    files: dict[str, bytes]  # extra paths served whole, with Range

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: WeightsServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        if self.path in self.server.files:
            self._send(self.server.files[self.path], honour_range=True)
        elif self.path == "/good.bin":
            self._send(PAYLOAD, honour_range=True)
        elif self.path == "/norange.bin":
            self._send(PAYLOAD, honour_range=False)
        elif self.path == "/wrong.bin":
            self._send(bytes(len(PAYLOAD)), honour_range=True)
        elif self.path == "/cut.bin":
            self._send(PAYLOAD, honour_range=True, cut=True)
        elif self.path == "/flaky.bin":
            self.server.flaky_served += 1
            self._send(PAYLOAD, honour_range=True, cut=self.server.flaky_served == 1)
        else:
            self.send_error(404)

    def _send(self, body: bytes, *, honour_range: bool, cut: bool = False) -> None:
        start = 0
        header = self.headers.get("Range")
        if honour_range and header and header.startswith("bytes="):
            start = int(header[len("bytes=") :].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes" if honour_range else "none")
        self.end_headers()
        if cut:
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@contextmanager
def serve() -> Iterator[WeightsServer]:
    server = WeightsServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    server.flaky_served = 0
    server.files = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def spec_for(base: ModelSpec, url: str, *, md5_only: bool = False) -> ModelSpec:
    """``base`` re-pointed at ``url``, with the payload's digest and a test file name."""
    weights = WeightsSource(
        filename="test-weights.bin",
        url=url,
        sha256=None if md5_only else PAYLOAD_SHA256,
        md5=PAYLOAD_MD5,
        size=len(PAYLOAD),
    )
    return replace(base, name="test-model", weights=weights)
