"""The digest memo: hash a weights file once, remember the result for the unchanged file.

Hashing a 367 MB checkpoint costs about a second of CPU and a full read of the file, at
every start. cutout hashes a file fully when it is pulled (``cutout models pull``), when
it is verified (``cutout models verify``), exported, or first loaded, and writes what it
found to ``<home>/digests/<key>.json``; a later load of the *unchanged* file takes the
digests from there instead (with the exported graph in the cache, a static-size CPU model
then never reads the checkpoint at all).

**Unchanged** means: the same resolved path, the same size and the same modification
time. Every ordinary way of replacing the file (a new download, ``cp``, an editor, a
``.part`` renamed over it) sets the modification time to *now*, so the memo misses and
the file is hashed again. The key deliberately leaves out the inode, the device and the
status-change time: they are not carried by a container image layer, which is extracted
anew on every host, so a memo written while the image is built would never match on
Cloud Run (where reading the whole checkpoint at start is exactly what must not happen).
Image layers may also drop the sub-second part of a modification time (containerd writes
whole seconds), so a file whose time is a whole second still matches a memo written less
than a second ahead of it.

What the memo protects against, and what it does not:

- It is a cache of a computation, never a source of trust of its own: it can only
  *skip* a hash, and the digests it returns are still compared with the model's
  published ones by :func:`cutout.models.weights.verify_file`.
- A memo that is damaged, hand-edited (its own ``check`` digest no longer matches), from
  another format version, for another path, or for a file of another size or time is
  ignored and the file is hashed again; a memo file that another user owns (other than
  root) or that the group or others may write is ignored too, so a memo planted by
  someone else cannot vouch for a file.
- It does not protect against someone who can write as this user (or root): they can
  write a matching memo, and could equally replace the cached ONNX graph (which runs
  unchecked) or the code itself. It does not notice a change that keeps the size and
  restores the modification time (deliberate), nor silent corruption on disk (bit rot).
  ``cutout models verify`` always hashes the whole file, ignoring the memo.

Writes are atomic (a temporary file renamed over the memo) and best effort: a cache that
cannot be written (a read-only image as a non-root user) only costs the re-hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["FileIdentity", "compute", "digests", "memo_path", "recall", "remember"]

logger = logging.getLogger(__name__)

VERSION = 1
_CHUNK = 1 << 20
_SECOND = 1_000_000_000


@dataclass(frozen=True)
class FileIdentity:
    """What a memo is keyed on: the resolved path, the size and the modification time."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        resolved = path.resolve()
        info = resolved.stat()
        return cls(str(resolved), info.st_size, info.st_mtime_ns)

    def matches(self, remembered: FileIdentity) -> bool:
        """True when this (the file now) is the file ``remembered`` describes."""
        if (self.path, self.size) != (remembered.path, remembered.size):
            return False
        if self.mtime_ns == remembered.mtime_ns:
            return True
        # a copy whose time lost its sub-second part (an image layer): whole seconds only
        return self.mtime_ns % _SECOND == 0 and abs(self.mtime_ns - remembered.mtime_ns) < _SECOND


def memo_path(home: Path, path: Path) -> Path:
    """Where the memo of ``path`` lives under ``home`` (one file per resolved path)."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return home / "digests" / f"{key}.json"


def compute(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
    """Hash ``path`` with every algorithm in one read."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def digests(path: Path, algorithms: tuple[str, ...], *, home: Path | None) -> dict[str, str]:
    """The digests of ``path``: from the memo under ``home`` when it knows the unchanged
    file, else hashed (and remembered). ``home=None``: always hashed, nothing written."""
    if home is not None:
        found = recall(home, path, algorithms)
        if found is not None:
            return found
    before = FileIdentity.of(path)
    computed = compute(path, algorithms)
    if home is not None:
        remember(home, path, computed, identity=before)
    return computed


def _check(record: dict[str, object]) -> str:
    body = {key: value for key, value in record.items() if key != "check"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def recall(home: Path, path: Path, algorithms: tuple[str, ...]) -> dict[str, str] | None:
    """The remembered digests of the unchanged ``path``, or None (no usable memo)."""
    memo = memo_path(home, path)
    try:
        if not _trusted(memo):
            return None
        record = json.loads(memo.read_text(encoding="utf-8"))
        if record.get("version") != VERSION or record.get("check") != _check(record):
            return None
        remembered = FileIdentity(**record["file"])
        found = {name: str(record["digests"][name]) for name in algorithms}
        current = FileIdentity.of(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if current.matches(remembered) else None


def _trusted(memo: Path) -> bool:
    """Only a memo this user (or root) wrote, and nobody else may write, counts."""
    info = memo.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid in (0, getuid())


def remember(
    home: Path, path: Path, found: dict[str, str], *, identity: FileIdentity | None = None
) -> bool:
    """Record ``found`` (digests of ``path`` as it was at ``identity``, by default now) for
    the unchanged file; merges with the digests already remembered for it. False when the
    file changed meanwhile or the cache cannot be written (the memo is only a cache)."""
    try:
        current = FileIdentity.of(path)
        if identity is not None and current != identity:
            return False  # the file changed while it was hashed: remember nothing
        known = recall(home, path, ()) is not None
        merged = dict(found)
        if known:
            previous = json.loads(memo_path(home, path).read_text(encoding="utf-8"))
            merged = {**previous["digests"], **found}
        record: dict[str, object] = {
            "version": VERSION,
            "file": asdict(current),
            "digests": dict(sorted(merged.items())),
        }
        record["check"] = _check(record)
        _write_atomically(memo_path(home, path), json.dumps(record, indent=1) + "\n")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.debug("cannot remember the digests of %s: %s", path, exc)
        return False
    return True


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from the image's user
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
