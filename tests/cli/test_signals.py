"""Signals handled on a watcher thread, and the previous handlers back afterwards."""

from __future__ import annotations

import os
import signal
import threading

from cutout.cli._signals import watch_signals


def test_a_callback_runs_on_the_watcher_thread_and_the_old_handler_comes_back() -> None:
    seen: list[tuple[int, str]] = []
    called = threading.Event()

    def callback(signum: int) -> None:
        seen.append((signum, threading.current_thread().name))
        called.set()

    before = signal.getsignal(signal.SIGUSR1)
    with watch_signals({signal.SIGUSR1: callback}):
        os.kill(os.getpid(), signal.SIGUSR1)  # would end the process without a handler
        assert called.wait(30)
    assert seen == [(signal.SIGUSR1, "cutout-signals")]
    assert signal.getsignal(signal.SIGUSR1) is before
    assert signal.set_wakeup_fd(-1) == -1  # and the wakeup fd is put back


def test_off_the_main_thread_nothing_is_installed() -> None:
    installed: list[object] = []

    def worker() -> None:
        with watch_signals({signal.SIGUSR1: lambda signum: None}):
            installed.append(signal.getsignal(signal.SIGUSR1))

    before = signal.getsignal(signal.SIGUSR1)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert installed == [before]
