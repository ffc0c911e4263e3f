"""The lock between processes: exclusive, waited for with a deadline, never stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutout.models import locks

pytest.importorskip("fcntl")

_HOLD = """
import sys, time
from pathlib import Path
from cutout.models import locks
with locks.exclusive(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_held_lock_is_waited_for_then_taken(tmp_path: Path) -> None:
    lock = tmp_path / "graph.lock"
    holder = _holder(lock, 1.5)
    waits: list[float] = []
    started = time.monotonic()
    with locks.exclusive(lock, timeout=60, on_wait=lambda: waits.append(time.monotonic())):
        taken = time.monotonic() - started
    holder.communicate()
    assert len(waits) == 1  # said once, not at every poll
    assert 0.5 < taken < 30


def test_waiting_gives_up_at_the_deadline(tmp_path: Path) -> None:
    lock = tmp_path / "graph.lock"
    holder = _holder(lock, 30)
    try:
        started = time.monotonic()
        waiting = locks.exclusive(lock, timeout=0.5)
        with pytest.raises(locks.LockTimeout, match="held by another process"), waiting:
            pass
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.communicate()


def test_a_killed_holder_leaves_no_held_lock(tmp_path: Path) -> None:
    lock = tmp_path / "graph.lock"
    holder = _holder(lock, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    assert lock.exists()  # the file stays; the lock went with its process
    started = time.monotonic()
    with locks.exclusive(lock, timeout=5):
        pass
    assert time.monotonic() - started < 1
