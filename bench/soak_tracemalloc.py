"""``soak.py --tracemalloc FRAMES``: where the server's Python allocations grew.

The server runs as ``python -X tracemalloc=FRAMES -c BOOTSTRAP serve ...``: the bootstrap
installs a SIGUSR2 handler that dumps a snapshot into a folder, then runs cutout's CLI,
so cutout itself knows nothing of this. The soak takes one snapshot at the end of the
warm-up and one at the end, and :meth:`Snapshots.report` lists the source lines whose
live allocations grew most in between. Tracing every allocation slows the server, so
the capacity measured in this mode is lower: compare the snapshots, not the speed.
tracemalloc sees Python's allocator and numpy's buffers, not memory that native
libraries (ONNX Runtime, libjpeg) allocate themselves.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from load import Server, free_port, running, serve_command

__all__ = ["BOOTSTRAP", "Snapshots", "traced_server"]

SNAPSHOT_TIMEOUT_S = 300.0

BOOTSTRAP = """
import os, signal, sys, tracemalloc
from cutout.cli.main import main

taken = 0

def dump(signum, frame):
    global taken
    taken += 1
    path = os.path.join(os.environ["CUTOUT_SOAK_SNAPSHOTS"], f"snapshot-{taken}.pickle")
    tracemalloc.take_snapshot().dump(path + ".part")
    os.replace(path + ".part", path)

signal.signal(signal.SIGUSR2, dump)
sys.exit(main(sys.argv[1:]))
"""


class Snapshots:
    """Snapshots of a server started by :func:`traced_server`; a no-op without one."""

    def __init__(self, pid: int | None = None, folder: Path | None = None) -> None:
        self.pid = pid
        self.folder = folder
        self.paths: list[Path] = []

    async def take(self) -> None:
        if self.pid is None or self.folder is None:
            return
        path = self.folder / f"snapshot-{len(self.paths) + 1}.pickle"
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no tracemalloc snapshot after {SNAPSHOT_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)
        self.paths.append(path)

    async def take_at(self, when: float) -> None:
        """A snapshot at ``when`` (monotonic)."""
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        await self.take()

    def report(self, top: int = 15) -> str:
        """The ``top`` source lines whose live allocations grew most, first to last."""
        if len(self.paths) < 2:
            return ""
        ignore = [tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
        first = tracemalloc.Snapshot.load(str(self.paths[0])).filter_traces(ignore)
        last = tracemalloc.Snapshot.load(str(self.paths[-1])).filter_traces(ignore)
        lines = [
            f"tracemalloc: live Python allocations, end of warm-up -> end "
            f"({_total(first) / 2**20:.1f} -> {_total(last) / 2**20:.1f} MB)",
            "| growth KB | blocks | size now KB | where |",
            "| ---: | ---: | ---: | --- |",
        ]
        for stat in last.compare_to(first, "lineno")[:top]:
            frame = stat.traceback[0]
            lines.append(
                f"| {stat.size_diff / 1024:+.0f} | {stat.count_diff:+d} | "
                f"{stat.size / 1024:.0f} | {frame.filename}:{frame.lineno} |"
            )
        return "\n".join(lines)


def _total(snapshot: tracemalloc.Snapshot) -> int:
    return sum(stat.size for stat in snapshot.statistics("filename"))


@contextmanager
def traced_server(
    model: str, extra: Sequence[str], frames: int
) -> Iterator[tuple[Server, Snapshots]]:
    """A ready ``cutout serve`` under tracemalloc, and its snapshots."""
    port = free_port()
    command = serve_command(model, port, extra)
    arguments = command[command.index("serve") :]
    traced = [sys.executable, "-X", f"tracemalloc={frames}", "-c", BOOTSTRAP, *arguments]
    with (
        tempfile.TemporaryDirectory(prefix="cutout-soak-") as folder,
        running(traced, port, {"CUTOUT_SOAK_SNAPSHOTS": folder}) as server,
    ):
        yield server, Snapshots(server.pid, Path(folder))
