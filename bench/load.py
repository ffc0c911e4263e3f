"""HTTP load benchmark: ``cutout serve`` under 1..64 concurrent clients vs the bare engine.

Starts a real ``cutout serve`` process on a free loopback port (or uses ``--url``), and
measures, in the same run:

* the baseline: ``Engine.remove`` in a loop in this process, same images, same options,
  measured for ``--seconds`` right before each level (the server idle meanwhile);
* the server at each concurrency level: closed-loop async httpx clients posting the same
  images to ``POST /v1/remove`` for ``--seconds`` each (after a short warm-up).

With ``--rembg``, rembg's own server (``rembg s``, from a venv in ``bench/.venvs`` with
rembg's ``cli`` extra) serving the same u2netp file gets the same clients right after.

Prints one table: throughput (images/s), its ratio to the engine's, latency p50/p95/p99,
errors, and CPU time per image of the engine (this process) and of the server process
(all its threads, from /proc, over the whole level): on a machine shared with other
jobs, the CPU columns say more about an idle machine than the wall-clock ones.

The goal (issue 4): at 16 clients >= 90 % of the engine's throughput, zero errors. The
load generator shares the machine's cores with the server; on a 2-core box
that costs the server some CPU, which the ratio includes.

    .venv/bin/python bench/load.py                       # u2netp, 1 4 16 64 clients
    .venv/bin/python bench/load.py --clients 16 --seconds 20
    .venv/bin/python bench/load.py --rembg
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "Baseline",
    "LevelResult",
    "Row",
    "Server",
    "free_port",
    "percentile",
    "run_level",
    "serve_command",
    "serving",
]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
U2NETP = REPO / "src" / "cutout" / "models" / "data" / "u2netp.onnx"
# bench/.venvs/rembg is the pipeline bench's (library only); rembg-s adds the cli extra
REMBG_VENVS = [REPO / "bench" / ".venvs" / "rembg", REPO / "bench" / ".venvs" / "rembg-s"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(model: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """The ``cutout serve`` command line of this venv."""
    cutout = Path(sys.executable).with_name("cutout")
    program = [str(cutout)] if cutout.exists() else [sys.executable, "-m", "cutout.cli.main"]
    return [*program, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", model, *extra]


def wait_ready(
    base_url: str,
    process: subprocess.Popen[bytes],
    path: str | None = "/ready",
    timeout: float = 180.0,
) -> None:
    """Until ``path`` answers 200 (``None``: until the process answers HTTP at all)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} before ready")
            try:
                response = client.get(f"{base_url}{path or '/'}")
                if path is None or response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Server:
    url: str
    pid: int | None  # None: a server this script did not start (--url)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all threads (0 when unknown)."""
        if self.pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # fields[11], fields[12]: utime, stime (after pid, comm; state is fields[0])
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(
    command: Sequence[str],
    port: int,
    env: dict[str, str] | None = None,
    ready_path: str | None = "/ready",
) -> Iterator[Server]:
    """``command`` (a server on ``port``) started and ready."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, ready_path)
        yield Server(base_url, process.pid)
    finally:
        stop(process)


@contextmanager
def serving(
    model: str, extra: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A ready ``cutout serve`` on a free loopback port."""
    port = free_port()
    with running(serve_command(model, port, extra), port, env) as server:
        yield server


def rembg_venv() -> Path | None:
    """A venv whose ``rembg s`` works (the server needs rembg's ``cli`` extra)."""
    for venv in REMBG_VENVS:
        if (venv / "bin" / "rembg").exists() and any(venv.glob("lib/python*/site-packages/gradio")):
            return venv
    return None


def rembg_command(venv: Path, port: int, home: Path) -> tuple[list[str], dict[str, str]]:
    """``rembg s`` with cutout's u2netp file (the same file, md5-checked by rembg)."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "u2netp.onnx").exists():
        shutil.copyfile(U2NETP, home / "u2netp.onnx")
    command = [str(venv / "bin" / "rembg"), "s", "--host", "127.0.0.1", "--port", str(port)]
    return command, {"U2NET_HOME": str(home)}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class LevelResult:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    # over the whole level (warm-up and tail included): server CPU s, images answered
    cpu_seconds: float = 0.0
    completed: int = 0

    @property
    def cpu_per_image(self) -> float:
        return self.cpu_seconds / self.completed if self.completed else float("nan")

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Target:
    """Where and how to post an image: cutout's native API, or rembg's server."""

    name: str
    path: str
    field: str
    form: tuple[tuple[str, str], ...] = ()


CUTOUT = Target("cutout", "/v1/remove?format=png", "image")
# rembg's server picks the model per request; it keeps one session per model name
REMBG = Target("rembg s", "/api/remove", "file", (("model", "u2netp"),))


async def run_level(
    server: Server,
    images: Sequence[bytes],
    clients: int,
    seconds: float,
    warmup: float = 1.0,
    target: Target = CUTOUT,
) -> LevelResult:
    """Closed loop: ``clients`` tasks each post, await, repeat until ``seconds`` pass.

    Only requests that complete inside the measured window (after the warm-up) count, so
    throughput is steady-state completions per second; requests still in flight when the
    window closes are awaited and dropped.
    """
    result = LevelResult(clients=clients, seconds=seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    url = f"{server.url}{target.path}"
    cpu_before = server.cpu_seconds()
    form = dict(target.form)
    async with httpx.AsyncClient(limits=limits, timeout=300.0) as client:
        loop_start = time.perf_counter()
        window_start = loop_start + warmup
        window_end = window_start + seconds

        async def worker(index: int) -> None:
            turn = index
            while time.perf_counter() < window_end:
                image = images[turn % len(images)]
                turn += 1
                began = time.perf_counter()
                try:
                    response = await client.post(
                        url, files={target.field: ("photo.jpg", image, "image/jpeg")}, data=form
                    )
                    # the body is read fully by post(); a 200 with an empty body is an error
                    outcome = str(response.status_code) if response.status_code != 200 else ""
                    if not outcome and not response.content:
                        outcome = "empty body"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                ended = time.perf_counter()
                if not outcome:
                    result.completed += 1
                if not window_start <= ended <= window_end:
                    continue
                if outcome:
                    result.errors[outcome] = result.errors.get(outcome, 0) + 1
                else:
                    result.latencies.append(ended - began)

        await asyncio.gather(*(worker(i) for i in range(clients)))
    result.cpu_seconds = server.cpu_seconds() - cpu_before
    return result


class Baseline:
    """``Engine.remove`` in a loop in this process, same images and options as the server."""

    def __init__(self, model: str, images: Sequence[bytes]) -> None:
        from cutout.engine import Engine
        from cutout.options import RemoveOptions

        self.images = images
        self.options = RemoveOptions(format="png")
        self.engine = Engine(model, device="cpu")
        self.engine.warmup()
        self.engine.remove(images[0], self.options)

    def measure(self, seconds: float) -> tuple[float, float]:
        """(images/s, CPU s per image) over about ``seconds``."""
        count = 0
        start = time.perf_counter()
        cpu_start = time.process_time()
        while time.perf_counter() - start < seconds:
            self.engine.remove(self.images[count % len(self.images)], self.options)
            count += 1
        cpu = time.process_time() - cpu_start
        return count / (time.perf_counter() - start), cpu / count

    def close(self) -> None:
        self.engine.close()


def load_images(paths: Sequence[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


@dataclass(frozen=True)
class Row:
    name: str
    engine_rate: float
    engine_cpu: float  # CPU s per image of the in-process engine
    level: LevelResult


def format_table(rows: Sequence[Row]) -> str:
    lines = [
        "| server | clients | engine images/s | server images/s | server / engine | ok "
        "| errors | p50 ms | p95 ms | p99 ms | engine CPU ms/image | server CPU ms/image |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        level = row.level
        errors = (
            ", ".join(f"{count}× {kind}" for kind, count in sorted(level.errors.items())) or "0"
        )
        ms = [1000 * percentile(level.latencies, q) for q in (0.50, 0.95, 0.99)]
        server_cpu = f"{1000 * level.cpu_per_image:.0f}" if level.cpu_seconds else "-"
        lines.append(
            f"| {row.name} | {level.clients} | {row.engine_rate:.2f} | {level.throughput:.2f} | "
            f"{100 * level.throughput / row.engine_rate:.0f} % | {level.ok} | {errors} | "
            f"{ms[0]:.0f} | {ms[1]:.0f} | {ms[2]:.0f} | {1000 * row.engine_cpu:.0f} | "
            f"{server_cpu} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per level")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="unmeasured lead-in (at least 1.5 queue rounds)"
    )
    parser.add_argument("--url", help="use this running cutout server instead of starting one")
    parser.add_argument("--images", type=Path, nargs="+", default=sorted(EXAMPLES.glob("*.jpg")))
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="extra `cutout serve` args"
    )
    parser.add_argument(
        "--rembg", action="store_true", help="also load rembg's server (u2netp, same file)"
    )
    args = parser.parse_args(argv)

    images = load_images(args.images)
    print(
        f"images: {', '.join(path.name for path in args.images)}; model {args.model}; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    venv = rembg_venv() if args.rembg else None
    if args.rembg and venv is None:
        print(f"rembg: skipped (no venv with rembg[cli] among {REMBG_VENVS})")
    baseline = Baseline(args.model, images)

    def levels(targets: Sequence[tuple[Target, Server]]) -> list[Row]:
        # each level is paired with an engine window measured just before it (the servers
        # idle), so that load from elsewhere on the machine hits both sides alike
        rows = []
        for clients in args.clients:
            engine_rate, engine_cpu = baseline.measure(args.seconds)
            # long enough for every client's first request to have been through the queue
            warmup = min(60.0, max(args.warmup, 1.5 * clients / engine_rate))
            for target, server in targets:
                level = asyncio.run(
                    run_level(server, images, clients, args.seconds, warmup, target)
                )
                print(
                    f"{target.name} {clients:>3} clients: {level.throughput:.2f} images/s "
                    f"(engine {engine_rate:.2f}), {level.error_count} errors",
                    flush=True,
                )
                rows.append(Row(target.name, engine_rate, engine_cpu, level))
        return rows

    with contextlib.ExitStack() as stack:
        stack.callback(baseline.close)
        if args.url:
            cutout = Server(args.url.rstrip("/"), None)
        else:
            cutout = stack.enter_context(serving(args.model, args.serve_arg))
        targets = [(CUTOUT, cutout)]
        if venv is not None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rembg-home-")))
            port = free_port()
            command, env = rembg_command(venv, port, home)
            targets.append((REMBG, stack.enter_context(running(command, port, env, None))))
        rows = levels(targets)
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
