"""Which items a task owns: a stable hash of the item's name, mod the number of shards.

The assignment depends on the name alone (``blake2b`` of its UTF-8 bytes, 8 bytes read
big-endian, mod N): not on Python's per-process ``hash()``, not on the listing's order or
length. So every task of an execution agrees on it without talking, and an item keeps its
shard when files are added or removed between runs, which keeps reruns and resumed
shards cheap. The price is that shards are balanced only statistically (within a few
percent for thousands of items); an item's shard never changes as long as N does not.

The shard comes from ``--shard I/N`` (0-based, as Cloud Run counts tasks) or from Cloud
Run's ``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT``, which the caller passes in as
:class:`cutout.config.Settings` read them (only ``cutout.config`` reads the environment).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cutout.batch.store import Item
from cutout.errors import ConfigError, InvalidOptionError

__all__ = [
    "MAX_SHARDS",
    "TASK_COUNT_ENV",
    "TASK_INDEX_ENV",
    "Shard",
    "parse_shard",
    "resolve_shard",
    "shard_from_task",
    "shard_of",
]

TASK_INDEX_ENV = "CLOUD_RUN_TASK_INDEX"
TASK_COUNT_ENV = "CLOUD_RUN_TASK_COUNT"
MAX_SHARDS = 10_000  # Cloud Run's most tasks per execution
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(name: str, count: int) -> int:
    """The shard (0 .. count-1) that owns ``name``."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be 1..{MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be 0..{self.count - 1}, got {self.index}")

    def owns(self, name: str) -> bool:
        return self.count == 1 or shard_of(name, self.count) == self.index

    def select(self, items: Iterable[Item]) -> list[Item]:
        """The items this shard owns, in the order given."""
        return [item for item in items if self.owns(item.name)]

    @property
    def label(self) -> str:
        """``shard-I-of-N``: the name of this shard's report."""
        return f"shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` with ``0 <= I < N``, as ``--shard`` takes it."""
    match = _SHARD.match(text)
    if match is None:
        raise InvalidOptionError(
            f"--shard {text!r}: expected I/N, e.g. 0/4 for the first of four shards",
            code="invalid_shard",
        )
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise InvalidOptionError(
            f"--shard {text!r}: N must be 1..{MAX_SHARDS}", code="invalid_shard"
        )
    if index >= count:
        raise InvalidOptionError(
            f"--shard {text!r}: I counts from 0, so it must be below {count} "
            f"(0/{count} .. {count - 1}/{count})",
            code="invalid_shard",
        )
    return Shard(index, count)


def shard_from_task(index: int | None, count: int | None) -> Shard | None:
    """The Cloud Run task's shard from ``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT``
    (as :class:`cutout.config.Settings` read them), or ``None`` outside a Cloud Run job."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        missing = TASK_INDEX_ENV if index is None else TASK_COUNT_ENV
        raise ConfigError(f"{missing} is not set, but the other Cloud Run task variable is")
    try:
        return Shard(index, count)
    except ValueError as exc:
        raise ConfigError(
            f"{TASK_INDEX_ENV}={index} / {TASK_COUNT_ENV}={count} is not a task: {exc}"
        ) from exc


def resolve_shard(flag: str | None, task_index: int | None, task_count: int | None) -> Shard:
    """``--shard`` if given, else the Cloud Run task's, else the whole set (0/1)."""
    if flag is not None:
        return parse_shard(flag)
    return shard_from_task(task_index, task_count) or Shard()
