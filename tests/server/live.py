"""Run a real ``cutout serve`` process on a free loopback port, for integration tests.

    from tests.server.live import live_server

    with live_server(env={"CUTOUT_MAX_BATCH": "4"}) as server:
        httpx.get(f"{server.url}/ready")

The process is ``python -m cutout.cli.main serve --host 127.0.0.1 --port N`` plus
``args``, with ``env`` layered over the current environment (``CUTOUT_*`` settings).
The helper waits for ``/ready`` (or only ``/health`` with ``wait="health"``, or any answer
at all from ``/health`` with ``wait="listening"``), yields a
:class:`LiveServer`, and on exit sends SIGTERM and waits for the process to end. The
server's stderr (JSON log lines) is kept in a file; ``server.log()`` reads it, and a
start-up failure raises with the log attached.

``fake_delay_s=0.2`` serves the fake backend instead of a real model, each batch taking
that long, to hold requests in flight deterministically: the process is then
``python -m tests.server.fake_serve 0.2 --host ...``, the same flags, settings and serve
code as ``cutout serve`` (see :mod:`tests.server.fake_serve`).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import httpx
import uvicorn
from fastapi import FastAPI
from PIL import Image

__all__ = [
    "LiveServer",
    "free_port",
    "live_server",
    "ready_client",
    "response_image",
    "serve_in_thread",
]

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _wait(server: LiveServer, path: str, timeout: float, *, any_status: bool = False) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive:
            raise RuntimeError(
                f"cutout serve exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            response = httpx.get(server.url + path, timeout=2.0)
            if response.status_code == 200 or any_status:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{path} not 200 after {timeout} s ({last}):\n{server.log()}")


@contextmanager
def live_server(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    wait: Literal["ready", "health", "listening"] = "ready",
    timeout: float = 60.0,
    port_from_env: bool = False,
    fake_delay_s: float | None = None,
) -> Iterator[LiveServer]:
    """``port_from_env`` passes the port as ``$PORT`` (as Cloud Run does), not ``--port``;
    ``fake_delay_s`` serves the fake backend (see the module docstring)."""
    port = free_port()
    full_env = {**os.environ, "CUTOUT_LOG_FORMAT": "json", **(env or {})}
    port_args = ["--port", str(port)]
    if port_from_env:
        full_env["PORT"] = str(port)
        port_args = []
    # the checkout's sources, even when the package is not installed in this interpreter
    # (and the tests package, for the fake backend's launcher)
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "src"), str(REPO), full_env.get("PYTHONPATH")])
    )
    entry = ["cutout.cli.main", "serve"]
    if fake_delay_s is not None:
        entry = ["tests.server.fake_serve", str(fake_delay_s)]
    command = [
        sys.executable,
        "-m",
        *entry,
        "--host",
        "127.0.0.1",
        *port_args,
        *args,
    ]
    with tempfile.TemporaryDirectory(prefix="cutout-live-") as folder:
        log_path = Path(folder) / "server.log"
        log_file: IO[bytes] = log_path.open("wb")
        process = subprocess.Popen(
            command, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=folder
        )
        server = LiveServer(f"http://127.0.0.1:{port}", port, process, log_path)
        try:
            if wait == "listening":
                _wait(server, "/health", timeout, any_status=True)
            else:
                _wait(server, "/" + wait, timeout)
            yield server
        finally:
            if server.alive:
                with suppress(subprocess.TimeoutExpired):
                    server.terminate()
            log_file.close()


@contextmanager
def serve_in_thread(app: FastAPI, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve an app built in this process (e.g. on the fake backend) with a real uvicorn
    on a loopback port, in a thread; yields the base URL once ``/health`` answers."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise TimeoutError("the in-process server did not start")
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextmanager
def ready_client(app: FastAPI, *, timeout: float = 30.0) -> Iterator[httpx.Client]:
    """:func:`serve_in_thread` and a client of it, yielded once ``/ready`` is 200."""
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=timeout) as http:
        deadline = time.monotonic() + timeout
        while http.get("/ready").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("the in-process model never became ready")
            time.sleep(0.05)
        yield http


def response_image(response: httpx.Response) -> Image.Image:
    """The image in a response's body, fully decoded."""
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image
