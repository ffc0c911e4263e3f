"""How many CPUs this process may use: the one number every thread count starts from.

``os.cpu_count()`` counts the machine's cores. A process may run on fewer: CPU affinity
(``taskset``, ``docker --cpuset-cpus``) narrows the set it is scheduled on, and a cgroup v2
CPU quota (``docker --cpus``, Kubernetes limits, a Cloud Run instance's vCPUs) caps the
time it gets without narrowing that set. Sizing thread pools from the machine's count
then runs more busy threads than there are CPUs to run them. :func:`usable_cpus` takes
both limits into account; the backends, the engine, the imaging strips, the server and
the CLI size their threads from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["CGROUP_CPU_MAX", "cgroup_quota", "machine_cpus", "usable_cpus"]

# the quota of the process's own cgroup, as a container sees it (cgroup v2, its namespace)
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def machine_cpus() -> int:
    """The machine's logical CPUs (what ``cutout info`` reports beside the usable ones)."""
    return os.cpu_count() or 1


def _affinity() -> Collection[int]:
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not on Linux: every core of the machine
        return range(machine_cpus())


def usable_cpus(
    *,
    cpu_max: Path = CGROUP_CPU_MAX,
    affinity: Callable[[], Collection[int]] = _affinity,
) -> int:
    """The CPUs this process may use: its affinity set, capped by the cgroup quota.

    A quota of 1.5 CPUs counts as 2 (a thread per started CPU keeps them all busy).
    ``cpu_max`` and ``affinity`` are injectable for tests.
    """
    cores = len(affinity()) or machine_cpus()
    quota = cgroup_quota(cpu_max)
    return max(1, min(cores, quota) if quota is not None else cores)


def cgroup_quota(path: Path = CGROUP_CPU_MAX) -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` ("max 100000": none; "150000 100000": 2);
    None when there is no quota or no readable file (cgroup v1, macOS, Windows)."""
    try:
        quota, period = path.read_text(encoding="ascii").split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        return None
