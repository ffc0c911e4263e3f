"""``cutout serve`` caps glibc's malloc arenas: threads that take turns with big buffers
then reuse each other's freed memory instead of each keeping its own high-water mark."""

from __future__ import annotations

import json
import subprocess
import sys

from cutout.server.allocator import ARENAS, cap_malloc_arenas
from tests.server.live import live_server

# Eight pool threads take turns: each allocates 48 MiB in 4 MiB blocks, keeps a small
# block allocated after them (it pins its heap's top) and frees the rest. The first,
# mapped, 32 MiB block raises glibc's dynamic mmap threshold, so the 4 MiB blocks come
# from the arenas, as an image's buffers do in the server after its first 8 MP photo.
_TURNS = """
import sys, threading
from cutout.server.allocator import cap_malloc_arenas

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024

if sys.argv[1] == "capped":
    assert cap_malloc_arenas()
before = rss_mb()
mapped = bytearray(32 << 20)
del mapped
turn = threading.Condition()
state = {"next": 0}
pins = []

def work(index):
    with turn:
        turn.wait_for(lambda: state["next"] == index)
    blocks = [bytearray(4 << 20) for _ in range(12)]
    pins.append(bytearray(64 << 10))
    del blocks
    with turn:
        state["next"] += 1
        turn.notify_all()
        # stay alive until every thread has worked: an exited thread's arena goes on
        # glibc's free list, and the next thread would reuse it instead of its own
        turn.wait_for(lambda: state["next"] == len(threads))

threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(rss_mb() - before)
"""


def _retained_mb(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _TURNS, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout)


def test_capped_arenas_keep_a_fraction_of_what_one_arena_per_thread_keeps() -> None:
    assert sys.platform.startswith("linux")  # the server's platform: glibc in its images
    default, capped = _retained_mb("default"), _retained_mb("capped")
    # one arena per thread: 7-8 threads x 48 MiB kept; two arenas: about 2 x 48 MiB
    assert default >= 250, default
    assert capped <= 150, capped


def test_cap_reports_success_on_glibc() -> None:
    assert cap_malloc_arenas() is True  # in this test process too: harmless, and idempotent


def test_serve_caps_the_arenas_and_says_so() -> None:
    with live_server(env={"CUTOUT_TESTING_FAKE_DELAY_S": "0"}, wait="health") as server:
        server.terminate()
        log = server.log()
    messages = [json.loads(line).get("message") for line in log.splitlines() if line[:1] == "{"]
    assert f"malloc arenas capped at {ARENAS}" in messages
