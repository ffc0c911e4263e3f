"""One exclusive lock between processes, for work on the cache that must happen once.

Two ``cutout models pull`` of one file, or two processes that both need the same ONNX
export on first use, take turns on a lock file beside the result. The lock is an
``flock`` on an open file: the kernel releases it when its holder exits, however it exits
(a killed process leaves the lock file behind, never a held lock), so a stale lock cannot
block anyone. A holder that is alive but stuck is waited for up to ``timeout``.

POSIX only; where ``fcntl`` is missing (Windows) the work is not guarded, which the
callers tolerate: their results are written atomically, so two concurrent writers cost
time, never a half-written file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LockTimeout", "exclusive"]

_POLL_SECONDS = 0.2


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the caller would wait."""


@contextmanager
def exclusive(
    path: Path,
    *,
    timeout: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) inside the block.

    ``on_wait`` is called once if another process holds it (to say why nothing happens);
    after ``timeout`` seconds of waiting, :class:`LockTimeout` (None: wait as long as it
    takes).
    """
    try:
        import fcntl
    except ImportError:  # Windows: see the module docstring
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if deadline is not None and time.monotonic() >= deadline:
                    message = f"{path} held by another process for {timeout:.0f} s"
                    raise LockTimeout(message) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
