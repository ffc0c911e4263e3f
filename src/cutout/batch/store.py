"""The Store protocol: what a batch needs from a folder or a bucket prefix.

Names are relative to the store's root, ``/``-separated (``shoes/red.jpg``), whatever the
backend. ``list`` is recursive and sorted by name (Python's ``str`` order, which is
Cloud Storage's UTF-8 byte order), so every task of a job sees the same sequence. The
store's own files (``.cutout/`` at the root: reports, local metadata) and unfinished
temporary files are never listed, except when ``prefix`` asks for ``.cutout/`` itself.

Writes are atomic: a reader sees the old object or the new one, never a part. A write can
be conditional: ``if_absent`` (create only) or ``if_generation_match`` (replace only the
version that was read). A condition that does not hold is a normal outcome, answered as
``WriteResult(written=False)``, not an exception: in an idempotent job it means another
task (or an earlier attempt) got there first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from cutout.batch.locations import Location

__all__ = [
    "META_DIR",
    "TEXT",
    "Item",
    "Store",
    "WriteResult",
    "check_write_conditions",
]

META_DIR = ".cutout/"  # the store's own files, under the root of a destination
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Item:
    """One object or file, as listed or stat-ed.

    ``generation`` changes whenever the content is replaced: the object generation on
    Cloud Storage; for a file, its ``st_mtime_ns`` and inode in one integer.
    ``metadata`` is the custom metadata where the backend hands it out with the listing
    (Cloud Storage), ``None`` where it costs a read of its own (a folder: call
    :meth:`Store.stat`). ``digest`` is a content digest (``md5:<base64>`` on Cloud
    Storage, free with the listing; ``sha256:<hex>`` for a file, computed on first use
    and kept).
    """

    name: str
    size: int
    generation: int
    # what identifies an item is its name, size and generation: items hash and compare
    # by those alone
    metadata: Mapping[str, str] | None = field(default=None, compare=False)
    hasher: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def digest(self) -> str | None:
        return self.hasher() if self.hasher is not None else None


@dataclass(frozen=True)
class WriteResult:
    """What a write did. ``written`` false: a condition did not hold and nothing changed;
    ``generation`` is then the existing object's (``None`` if it has gone since)."""

    written: bool
    generation: int | None


class Store(Protocol):
    """A folder or a bucket prefix; see the module docstring for the rules."""

    @property
    def location(self) -> Location: ...

    def list(self, prefix: str = "") -> list[Item]: ...

    def read(self, name: str) -> bytes: ...

    def stat(self, name: str) -> Item | None:
        """The item with its metadata (``{}`` when it has none), or ``None`` if absent."""
        ...

    def content_digest(self, data: bytes) -> str:
        """The digest this store's items would carry for content ``data`` (their
        ``Item.digest``): so a provenance can describe the very bytes that were read."""
        ...

    def write(
        self,
        name: str,
        data: bytes,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        if_absent: bool = False,
        if_generation_match: int | None = None,
    ) -> WriteResult: ...

    def write_text(self, name: str, text: str, *, content_type: str = TEXT) -> None:
        """Replace ``name`` with ``text`` (UTF-8), atomically and unconditionally: for a
        file only one writer owns, such as a shard's report."""
        ...


def check_write_conditions(if_absent: bool, if_generation_match: int | None) -> None:
    if if_absent and if_generation_match is not None:
        raise ValueError("give if_absent or if_generation_match, not both")
