"""What a server process holds, read from /proc: memory, descriptors, threads, sockets.

:func:`read_usage` sums the process and its descendants (a server that forks workers is
measured whole). Descriptors are split into the established TCP connections (which come
and go with the clients) and the rest (files, pipes, listening sockets, eventfds,
sockets left in CLOSE_WAIT), so that a leak is not hidden in, or faked by, the number of
clients connected at the moment of the sample.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Usage", "descendants", "machine", "read_usage"]

_PROC = Path("/proc")
_ESTABLISHED = "01"


@dataclass(frozen=True)
class Usage:
    rss_kb: int  # VmRSS, summed over the tree
    anon_kb: int  # RssAnon (heap and other private memory), summed over the tree
    threads: int
    fds: int
    connections: int  # fds that are established TCP connections

    @property
    def other_fds(self) -> int:
        return self.fds - self.connections


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _kb(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from the parent ids in /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def _established_inodes(pid: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            columns = line.split()
            if columns[3] == _ESTABLISHED:
                inodes.add(columns[9])
    return inodes


def _fds(pid: int, established: set[str]) -> tuple[int, int]:
    """(descriptors, of which established TCP connections)."""
    folder = _PROC / str(pid) / "fd"
    total = connections = 0
    for name in os.listdir(folder):
        try:
            target = os.readlink(folder / name)
        except OSError:
            continue  # closed meanwhile
        total += 1
        if target.startswith("socket:[") and target[8:-1] in established:
            connections += 1
    return total, connections


def read_usage(pid: int) -> Usage:
    """The tree's usage now; raises ``OSError`` once ``pid`` has gone."""
    rss = anon = threads = fds = connections = 0
    established = _established_inodes(pid)
    for member in descendants(pid):
        try:
            status = _status(member)
            member_fds, member_connections = _fds(member, established)
        except OSError:
            if member == pid:
                raise
            continue
        rss += _kb(status.get("VmRSS"))
        anon += _kb(status.get("RssAnon"))
        threads += int(status.get("Threads", "0"))
        fds += member_fds
        connections += member_connections
    return Usage(rss, anon, threads, fds, connections)


def machine() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = fields.get("flags\t", "").split()
    return {
        "cpu": fields.get("model name\t", "?").strip(),
        "cores": len(os.sched_getaffinity(0)),
        "avx512": sorted(flag for flag in flags if flag.startswith("avx512")),
        "python": sys.version.split()[0],
    }
