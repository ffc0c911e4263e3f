"""Cold start: process start -> first successful ``POST /v1/remove``, median of a few runs.

For each model: start ``cutout serve`` on a free loopback port, then poll ``/health``
until it answers (the process is up) and post a photo to ``/v1/remove`` until it answers
200 (the model is loaded and warmed). Both times are measured from just before the
process is spawned, so they include the interpreter and imports.

* ``u2netp``: the embedded model (goal <= 1.5 s on a 2-core CPU);
* ``inspyrenet-fast``, on the CPU, with the synthetic checkpoint of
  ``../shared/fixtures/inspyrenet`` (the official layout and size), when torch and the
  InSPyReNet backend are available: with its exported graph already in the cache (what
  the CPU image bakes, and what any start after the first finds; the export itself is
  run once before, with ``cutout models export-onnx``, and timed apart; goal <= 5 s), and
  with ``--torch`` also on torch (``CUTOUT_CPU_RUNTIME=torch``: no graph), for comparison;
* ``rembg s`` with the same u2netp file, when a venv in ``bench/.venvs`` has rembg's
  ``cli`` extra (``POST /api/remove``, ``model=u2netp``), for reference.

    .venv/bin/python bench/coldstart.py --runs 3 [--torch] [--skip rembg]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from load import free_port, rembg_command, rembg_venv, serve_command, stop

__all__ = ["ColdStart", "measure"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MAKE_CHECKPOINT = SHARED / "fixtures" / "inspyrenet" / "make_checkpoint.py"
PHOTO = REPO / "examples" / "animal-1.jpg"


@dataclass
class ColdStart:
    health: float
    first_result: float
    # cutout only (from /model-info and Server-Timing), seconds; NaN when unknown
    load: float = float("nan")
    warmup: float = float("nan")
    first_infer: float = float("nan")
    # the server process's CPU time (all threads) until that first result: what the start
    # costs on an idle machine, whatever else this shared one runs meanwhile
    cpu: float = float("nan")


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_breakdown(
    client: httpx.Client, base_url: str, response: httpx.Response
) -> dict[str, float]:
    """load / warm-up (from /model-info) and the first request's infer (Server-Timing)."""
    found: dict[str, float] = {}
    for part in response.headers.get("server-timing", "").split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name == "infer" and duration:
            found["first_infer"] = float(duration) / 1000
    info = client.get(f"{base_url}/model-info")
    if info.status_code == 200 and "load_seconds" in info.json():
        found["load"] = float(info.json()["load_seconds"])
        found["warmup"] = float(info.json()["warmup_seconds"])
    return found


def measure(
    command: Sequence[str],
    port: int,
    post: Callable[[httpx.Client, str], httpx.Response],
    env: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> ColdStart:
    """Spawn ``command``; time the first /health answer and the first 200 from ``post``."""
    base_url = f"http://127.0.0.1:{port}"
    # the server's log goes to a file: a pipe nobody reads fills up (64 KiB of 503 lines
    # while a slow model loads) and then blocks the server
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        health: float | None = None
        try:
            with httpx.Client(timeout=60.0) as client:
                while time.perf_counter() - started < timeout:
                    if process.poll() is not None:
                        log.seek(0)
                        tail = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(
                            f"{command[0]} exited with {process.returncode}:\n{tail}"
                        )
                    try:
                        if health is None:
                            client.get(f"{base_url}/health")
                            health = time.perf_counter() - started
                        response = post(client, base_url)
                    except httpx.TransportError:
                        time.sleep(0.01)
                        continue
                    if response.status_code == 200 and response.content:
                        elapsed = time.perf_counter() - started
                        cpu = _cpu_seconds(process.pid)
                        breakdown = _server_breakdown(client, base_url, response)
                        return ColdStart(health, elapsed, **breakdown, cpu=cpu)
                    time.sleep(0.02)
            raise RuntimeError(f"no successful response within {timeout:.0f} s")
        finally:
            stop(process)


def post_cutout(client: httpx.Client, base_url: str) -> httpx.Response:
    files = {"image": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")}
    return client.post(f"{base_url}/v1/remove", files=files)


def post_rembg(client: httpx.Client, base_url: str) -> httpx.Response:
    files = {"file": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")}
    return client.post(f"{base_url}/api/remove", files=files, data={"model": "u2netp"})


def synthetic_inspyrenet() -> Path | None:
    """The 384 synthetic checkpoint (built once, cached like the tests' copy), or None when
    torch or the backend is missing."""
    if importlib.util.find_spec("torch") is None or not MAKE_CHECKPOINT.exists():
        return None
    if importlib.util.find_spec("cutout.backends.torch") is None:
        return None
    sys.path.insert(0, str(REPO))
    from tests.inspyrenet_fixtures import synthetic_checkpoint

    return synthetic_checkpoint(384)


def export_graph(checkpoint: Path, home: Path) -> float:
    """``cutout models export-onnx`` into ``home`` (what the CPU image bakes); seconds."""
    cutout = Path(sys.executable).with_name("cutout")
    command = [str(cutout), "models", "export-onnx", "inspyrenet-fast"]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--weights", str(checkpoint)],
        check=True,
        env={**os.environ, "CUTOUT_HOME": str(home)},
        capture_output=True,
    )
    return time.perf_counter() - started


_BREAKDOWN = ("load", "warmup", "first_infer", "cpu")


def summarise(name: str, runs: Sequence[ColdStart], goal: float | None) -> str:
    health = statistics.median(run.health for run in runs)
    first = statistics.median(run.first_result for run in runs)
    spread = ", ".join(f"{run.first_result:.2f}" for run in runs)
    parts = [statistics.median(getattr(run, key) for run in runs) for key in _BREAKDOWN]
    breakdown = " | ".join("-" if part != part else f"{part:.2f}" for part in parts)
    verdict = "-" if goal is None else ("yes" if first <= goal else "NO")
    goal_text = "-" if goal is None else f"<= {goal:g} s"
    return (
        f"| {name} | {len(runs)} | {health:.2f} | {breakdown} | {first:.2f} | {spread} | "
        f"{goal_text} | {verdict} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["inspyrenet", "rembg"])
    parser.add_argument("--torch", action="store_true", help="also inspyrenet-fast on torch")
    args = parser.parse_args(argv)

    print(f"load average before: {_load()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        work = Path(tmp)
        cases: list[tuple[str, Callable[[int], tuple[list[str], dict[str, str]]], float | None]]
        cases = [("cutout u2netp", lambda port: (serve_command("u2netp", port), {}), 1.5)]
        checkpoint = None if "inspyrenet" in args.skip else synthetic_inspyrenet()
        if checkpoint is not None:
            digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
            print(f"synthetic inspyrenet-fast checkpoint {checkpoint.name} sha256 {digest}…")
            home = work / "home"
            seconds = export_graph(checkpoint, home)
            print(f"inspyrenet-fast: `cutout models export-onnx` once, {seconds:.0f} s")
            extra = ["--weights", str(checkpoint), "--device", "cpu"]
            graph_env = {"CUTOUT_HOME": str(home)}
            cases.append(
                (
                    "cutout inspyrenet-fast (graph in the cache)",
                    lambda port: (serve_command("inspyrenet-fast", port, extra), graph_env),
                    5.0,
                )
            )
            if args.torch:
                torch_env = {"CUTOUT_HOME": str(home), "CUTOUT_CPU_RUNTIME": "torch"}
                cases.append(
                    (
                        "cutout inspyrenet-fast (torch)",
                        lambda port: (serve_command("inspyrenet-fast", port, extra), torch_env),
                        None,
                    )
                )
        else:
            print("inspyrenet-fast: skipped (--skip, or no torch, backend or make_checkpoint.py)")
        venv = None if "rembg" in args.skip else rembg_venv()
        if venv is not None:
            rembg_home = work / "rembg-home"

            def rembg_case(port: int) -> tuple[list[str], dict[str, str]]:
                assert venv is not None
                return rembg_command(venv, port, rembg_home)

            cases.append(("rembg s (u2netp, same file)", rembg_case, None))
        else:
            print("rembg: skipped (--skip, or no venv with rembg[cli] in bench/.venvs)")

        for name, build, goal in cases:
            runs = []
            for _ in range(args.runs):
                port = free_port()
                command, env = build(port)
                post = post_rembg if name.startswith("rembg") else post_cutout
                try:
                    runs.append(measure(command, port, post, env))
                except RuntimeError as exc:
                    print(f"{name}: failed: {exc}")
                    break
                print(f"{name}: {runs[-1].first_result:.2f} s", flush=True)
            if runs:
                rows.append(summarise(name, runs, goal))

    print()
    print(
        "| server | runs | /health s | model load s | warm-up s | first infer s "
        "| server CPU s | first result s (median) | runs s | goal | met |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\nload average after: {_load()}")
    return 0


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
