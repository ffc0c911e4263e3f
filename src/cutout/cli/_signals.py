"""Signals a long run reacts to, handled on a thread of their own.

:func:`watch_signals` installs do-nothing Python handlers (so the signals no longer kill
or stop the process) and a wakeup file descriptor: the interpreter's C-level handler
writes each signal's number to it at once, even while the main thread is inside a long
call such as a model forward, where Python-level handlers would wait. A watcher thread
reads the numbers and calls the callbacks. Callbacks therefore run on the watcher
thread, never on top of the main thread in the middle of something it holds (a lock, a
write), so they may take locks and do I/O.

Only the main thread may install handlers; elsewhere (an embedding program, a test's
worker thread) the run goes on without them.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

__all__ = ["watch_signals"]


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the work is done by the watcher thread."""


@contextmanager
def watch_signals(callbacks: Mapping[int, Callable[[int], None]]) -> Iterator[None]:
    """Call ``callbacks[signum](signum)`` on a watcher thread for each of these signals
    while the block runs; the previous handlers come back afterwards."""
    if not callbacks or threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, _ignore) for signum in callbacks}

    def watch() -> None:
        while data := reader.recv(64):  # b"": the block has ended and closed the writer
            for signum in data:
                callback = callbacks.get(signum)
                if callback is not None:
                    callback(signum)

    watcher = threading.Thread(target=watch, name="cutout-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        writer.close()
        watcher.join()
        reader.close()
