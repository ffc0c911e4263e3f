"""Run a pure function over horizontal strips of an image on a shared thread pool.

The C code behind the heavy per-pixel steps (Pillow's resampling, Little CMS through
ImageCms, ISA-L deflate, numpy ufuncs) releases the GIL, so strips of one image run on
several cores at once. Small images are not split: a thread hand-off costs more than it
saves below about a megabyte of pixels.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cutout.cpus import usable_cpus

__all__ = ["MIN_STRIP_BYTES", "map_strips", "run_all", "strip_bounds", "workers"]

T = TypeVar("T")

MIN_STRIP_BYTES = 1 << 20

_PREFIX = "cutout-strip"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@functools.cache
def workers() -> int:
    """Threads to use for one image: the CPUs this process may use (affinity, capped by
    a cgroup CPU quota: Cloud Run and Docker limit CPUs that way), counted once."""
    return usable_cpus()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix=_PREFIX)
        return _pool


def strip_bounds(rows: int, total_bytes: int, threads: int | None = None) -> list[int]:
    """Row boundaries [0, ..., rows] cutting an image into at most ``threads`` strips."""
    limit = threads if threads is not None else workers()
    count = max(1, min(limit, total_bytes // MIN_STRIP_BYTES, rows))
    return [rows * index // count for index in range(count + 1)]


def _in_pool() -> bool:
    """Whether this thread is one of the pool's: a job that waited on the pool from there
    could wait for itself, so nested calls run in the calling thread."""
    return threading.current_thread().name.startswith(_PREFIX)


def map_strips(job: Callable[[int, int], T], bounds: list[int]) -> list[T]:
    """``job(first_row, end_row)`` for each strip, in order, in parallel when several."""
    spans = list(itertools.pairwise(bounds))
    if len(spans) == 1 or _in_pool():
        return [job(*span) for span in spans]
    return list(_executor().map(lambda span: job(*span), spans))


def run_all(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Independent jobs' results, in order; in parallel when this process may use more
    than one CPU (the last job runs in the calling thread)."""
    if len(jobs) < 2 or workers() < 2 or _in_pool():
        return [job() for job in jobs]
    futures = [_executor().submit(job) for job in jobs[:-1]]
    last = jobs[-1]()
    return [future.result() for future in futures] + [last]
