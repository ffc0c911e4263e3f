"""Cap glibc's malloc arenas, so that the server's memory settles instead of ratcheting.

glibc gives a thread that allocates while others do an arena of its own, up to eight per
core, and an arena returns freed memory to the kernel only from the top of its heap: it
keeps the high-water mark of whatever its threads once held. The server's threads (the
event loop, the decode/encode pool, the strip pool, the batcher, ONNX Runtime's) each
allocate and free image-sized buffers, so on a 2-core machine up to 16 arenas each settle
at their own peak, one after another, as a request for an 8 MP photo happens to land on
each thread. With two arenas, a thread reuses what another freed.

Measured with ``bench/soak.py``'s request mix, 5 decks of 50 requests from 4 clients, on
2 cores: RSS after them 928-965 MB with glibc's default, 802-809 MB with two arenas, for
the same CPU time (74-78 s against 77-78 s); from the first deck on, RSS grew only by the
ICC lookup tables (``imaging/icc.py``, 64 MiB each, by design), against 25-77 MB more
with the default. (A fixed mmap threshold, the other usual knob, kept 735 MB but cost
10 % more CPU: every buffer then pays its page faults.)

:func:`cap_malloc_arenas` is called by ``cutout serve`` before any thread starts; it
replaces a ``MALLOC_ARENA_MAX`` that glibc read from the environment at start-up.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["ARENAS", "cap_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # malloc.h


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas from now on; False where the C library is not
    glibc (musl's ``mallopt`` does nothing, macOS has none) and nothing changed."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
