"""LocalStore: a folder as a :class:`~cutout.batch.store.Store`.

Atomic writes: the bytes go to a temporary file in the target's own folder (same
filesystem), are flushed to disk, and then take the final name in one step: ``os.link``
for a create-only write (it fails if the name exists, so of two writers exactly one wins)
and ``os.replace`` otherwise. A process killed half-way leaves at most a
``.cutout-tmp-*`` file, which is never listed.

A file's generation is its ``st_mtime_ns`` and inode number in one integer
(``mtime_ns << 64 | inode``): an edit in place moves the time, and every write here makes
a new inode, so a replaced file differs even within the filesystem clock's granularity
(a few milliseconds on Linux).

Metadata (the output's provenance) lives in a sidecar JSON file under
``ROOT/.cutout/meta/<name>.json``, written after the output, and records the output's
generation and size. A sidecar that does not match its file (a crash between the two
writes, an output edited or replaced by hand) is ignored, so the output counts as having
no metadata and is redone: never a false "up to date". Why not extended attributes:
copies (``cp``, ``zip``, most sync tools) drop them, several filesystems a batch may run
on lack them (Cloud Storage FUSE, SMB shares, FAT), and ext4 caps them at one block; a
sidecar is plain JSON that travels with the folder.

Conditional writes other than create-only (``if_generation_match``) check and then
replace: safe against a rerun, not against two processes writing the same name at once
(shards own disjoint names).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from cutout.batch.errors import StorageError, StorageNotFoundError, StoragePermissionError
from cutout.batch.locations import LocalLocation
from cutout.batch.store import META_DIR, TEXT, Item, WriteResult, check_write_conditions
from cutout.errors import OutputPathError

__all__ = ["TMP_PREFIX", "LocalStore", "generation_of"]

TMP_PREFIX = ".cutout-tmp-"
_SIDECARS = META_DIR + "meta/"
# filesystems without hard links answer os.link with one of these
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


class LocalStore:
    """A folder; ``create`` makes it (and its parents) if it is missing."""

    def __init__(self, location: LocalLocation | Path, *, create: bool = False) -> None:
        path = location.path if isinstance(location, LocalLocation) else location
        if not path.exists():
            if not create:
                raise StorageNotFoundError(f"folder {path} does not exist")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _translate(exc, f"create folder {path}") from exc
        if not path.is_dir():
            raise StorageNotFoundError(f"{path} is not a folder")
        self._root = path.resolve()
        self._location = LocalLocation(path)

    @property
    def location(self) -> LocalLocation:
        return self._location

    # reading ---------------------------------------------------------------------------
    def list(self, prefix: str = "") -> list[Item]:
        include_own = prefix.startswith(META_DIR)
        # walk only the folder the prefix names, not the whole tree
        folder, _, _ = prefix.rpartition("/")
        start = self._path(folder) if folder else self._root
        items = []
        try:
            for path, stat in _files(start):
                name = path.relative_to(self._root).as_posix()
                if name.startswith(prefix) and (include_own or not name.startswith(META_DIR)):
                    items.append(self._item(name, path, stat))
        except (FileNotFoundError, NotADirectoryError) as exc:
            if folder:
                return []  # no such sub-folder: nothing under the prefix
            raise _translate(exc, f"list {start}") from exc
        except OSError as exc:
            raise _translate(exc, f"list {start}") from exc
        return sorted(items, key=lambda item: item.name)

    def read(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _translate(exc, f"read {path}") from exc

    def stat(self, name: str) -> Item | None:
        path = self._path(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _translate(exc, f"stat {path}") from exc
        if not S_ISREG(stat.st_mode):
            return None
        return self._item(name, path, stat, self._sidecar_metadata(name, stat))

    def content_digest(self, data: bytes) -> str:
        return f"sha256:{hashlib.sha256(data).hexdigest()}"

    # writing ---------------------------------------------------------------------------
    def write(
        self,
        name: str,
        data: bytes,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        if_absent: bool = False,
        if_generation_match: int | None = None,
    ) -> WriteResult:
        check_write_conditions(if_absent, if_generation_match)
        path = self._path(name)
        if if_generation_match == 0:  # Cloud Storage's spelling of "must not exist"
            if_absent, if_generation_match = True, None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if if_generation_match is not None:
                current = self.stat(name)
                if current is None or current.generation != if_generation_match:
                    return WriteResult(False, current.generation if current else None)
            temp = self._write_temp(path, data)
            try:
                if if_absent and not _link_if_absent(temp, path):
                    current = self.stat(name)
                    return WriteResult(False, current.generation if current else None)
                if not if_absent:
                    os.replace(temp, path)
            finally:
                temp.unlink(missing_ok=True)
            stat = path.stat()
            sidecar = {
                "metadata": dict(metadata),
                "content_type": content_type,
                "size": stat.st_size,
                "generation": generation_of(stat),
            }
            self._replace(self._path(_SIDECARS + name + ".json"), json.dumps(sidecar).encode())
        except OSError as exc:
            raise _translate(exc, f"write {path}") from exc
        return WriteResult(True, generation_of(stat))

    def write_text(self, name: str, text: str, *, content_type: str = TEXT) -> None:
        path = self._path(name)
        try:
            self._replace(path, text.encode("utf-8"))
        except OSError as exc:
            raise _translate(exc, f"write {path}") from exc

    # internals -------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        pure = PurePosixPath(name)
        if (
            not name
            or "\x00" in name
            or "\\" in name
            or pure.is_absolute()
            or any(part in ("..", ".") for part in name.split("/"))
            or name.endswith("/")
        ):
            raise OutputPathError(f"{name!r} is not a safe name inside {self._root}")
        return self._root.joinpath(*pure.parts)

    def _item(
        self, name: str, path: Path, stat: os.stat_result, metadata: Mapping[str, str] | None = None
    ) -> Item:
        return Item(name, stat.st_size, generation_of(stat), metadata, partial(_sha256, path))

    def _sidecar_metadata(self, name: str, stat: os.stat_result) -> dict[str, str]:
        try:
            sidecar = json.loads(self._path(_SIDECARS + name + ".json").read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(sidecar, dict):
            return {}
        if (sidecar.get("size"), sidecar.get("generation")) != (stat.st_size, generation_of(stat)):
            return {}  # written for another version of the file: not this one's
        metadata = sidecar.get("metadata")
        return {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}

    def _write_temp(self, path: Path, data: bytes) -> Path:
        temp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def _replace(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = self._write_temp(path, data)
        try:
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)


def generation_of(stat: os.stat_result) -> int:
    """A file's generation: its modification time and inode number in one integer."""
    return (stat.st_mtime_ns << 64) | stat.st_ino


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files below ``folder`` with their stat (links to files included, links to
    folders not followed), leaving out unfinished temporary files and files that vanish
    while the folder is read."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                try:
                    yield from _files(Path(entry.path))
                except FileNotFoundError:
                    continue  # removed while it was being read
            elif entry.is_file() and not entry.name.startswith(TMP_PREFIX):
                try:
                    yield Path(entry.path), entry.stat()
                except FileNotFoundError:
                    continue


def _link_if_absent(temp: Path, path: Path) -> bool:
    """Give ``temp`` the name ``path`` only if nothing has it; False if something does."""
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        # no hard links here: check, then rename (a narrow race, documented above)
        if path.exists():
            return False
        os.replace(temp, path)
    return True


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None  # gone or unreadable: no digest, so nothing can be judged current by it
    return f"sha256:{digest.hexdigest()}"


def _translate(exc: OSError, action: str) -> StorageError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return StorageNotFoundError(f"{action}: {reason}")
    if isinstance(exc, PermissionError):
        return StoragePermissionError(f"{action}: {reason}")
    return StorageError(f"{action}: {reason}")
