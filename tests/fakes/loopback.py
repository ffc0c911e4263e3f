"""A fake Google API's HTTP server on loopback, shared by the fakes.

A subclass implements ``_handle(handler, method)``; this class runs a threading HTTP/1.1
server on ``127.0.0.1`` (a free port) that sends every GET, POST, PUT, PATCH and DELETE
there, and gives ``endpoint``, ``start``/``stop`` and the context manager.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LoopbackServer"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that drops its connection is the client's business, not a failure
        # of the fake (google-cloud-storage does it with retried download errors)
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    _server: ThreadingHTTPServer | None = None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: an answer's headers and body go out at once; with Nagle's
            # algorithm the body waited for the client's delayed ACK (~40 ms a request)
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the fake's recorded requests instead

        self._server = _Server(("127.0.0.1", 0), Handler)
        # a short poll so that stop() returns at once
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
