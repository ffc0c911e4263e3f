"""Where a batch reads from and writes to: a local folder or ``gs://bucket/prefix``.

:func:`parse_location` is pure (no I/O): it checks the text's shape and Cloud Storage's
naming rules, and says what is wrong in terms of the argument (``SRC``, ``DST``). Whether
a folder exists is the store's business (:func:`cutout.batch.stores.open_store`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cutout.errors import InvalidOptionError

__all__ = ["GcsLocation", "LocalLocation", "Location", "parse_location"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# cloud.google.com/storage/docs/buckets#naming: 3-63 characters (222 with dots, 63 per
# dot-separated part), lowercase letters, digits, '-', '_' and '.', starting and ending
# with a letter or digit; not an IP address; no "goog" prefix.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_MAX_OBJECT_NAME_BYTES = 1024


@dataclass(frozen=True)
class LocalLocation:
    """A folder on this machine."""

    path: Path

    def join(self, name: str) -> str:
        return str(self.path / name) if name else str(self.path)

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class GcsLocation:
    """A Cloud Storage bucket and a prefix ("" or ending in "/") inside it."""

    bucket: str
    prefix: str = ""

    def join(self, name: str) -> str:
        return f"gs://{self.bucket}/{self.prefix}{name}"

    def __str__(self) -> str:
        return self.join("")


Location = LocalLocation | GcsLocation


def parse_location(text: str, role: str = "SRC") -> Location:
    """``gs://bucket[/prefix]`` or a folder path; ``role`` names the argument in errors.

    A non-empty prefix is taken as a folder: ``gs://b/shoes`` and ``gs://b/shoes/`` both
    mean the objects under ``shoes/``.
    """
    if not text.strip():
        raise _error(role, text, "is empty: give a folder or gs://BUCKET/PREFIX")
    scheme = _SCHEME.match(text)
    if text.startswith("gs://"):
        return _parse_gcs(text, role)
    if text.lower().startswith("gs:"):
        raise _error(role, text, "looks like Cloud Storage but is not gs://BUCKET/PREFIX")
    # a one-letter "scheme" is a Windows drive (C:\photos), which is a folder
    if scheme is not None and len(scheme.group(1)) > 1:
        raise _error(
            role,
            text,
            f"uses {scheme.group(1)}:, which cutout cannot read or write; "
            "give a local folder or gs://BUCKET/PREFIX",
        )
    return LocalLocation(Path(text).expanduser())


def _parse_gcs(text: str, role: str) -> GcsLocation:
    bucket, _, prefix = text.removeprefix("gs://").partition("/")
    if not bucket:
        raise _error(role, text, "has no bucket name: expected gs://BUCKET/PREFIX")
    if not _BUCKET.match(bucket) or any(len(part) > 63 for part in bucket.split(".")):
        raise _error(
            role,
            text,
            f"has an invalid bucket name {bucket!r}: bucket names use lowercase letters, "
            "digits, '-', '_' and '.', 3 to 63 characters, and start and end with a letter "
            "or digit",
        )
    if ".." in bucket or _IPV4.match(bucket) or bucket.startswith("goog"):
        raise _error(role, text, f"has an invalid bucket name {bucket!r}")
    if any(c in prefix for c in "\r\n") or len(prefix.encode()) > _MAX_OBJECT_NAME_BYTES:
        raise _error(role, text, "has a prefix Cloud Storage cannot hold as an object name")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if "//" in prefix or prefix.startswith("/"):
        raise _error(role, text, "has an empty folder name ('//') in its prefix")
    if any(part in (".", "..") for part in prefix.split("/")):
        raise _error(role, text, "has '.' or '..' in its prefix (Cloud Storage keeps them as is)")
    return GcsLocation(bucket, prefix)


def _error(role: str, text: str, problem: str) -> InvalidOptionError:
    return InvalidOptionError(f"{role} {text!r} {problem}", code="invalid_location")
