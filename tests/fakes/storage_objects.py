"""State and rules of the fake Cloud Storage JSON API (served by :mod:`tests.fakes.storage`).

Buckets and objects in memory; each object keeps its bytes, ``generation`` (int64,
microsecond-clock values that only increase, as Google's), ``metageneration`` (1 on
write, +1 per metadata change), ``md5Hash`` / ``crc32c`` (base64 of the digest, the
big-endian CRC32C), ``contentType``, custom ``metadata``, ``timeCreated`` / ``updated``.
Only the live generation is kept (buckets without versioning).

Preconditions, as cloud.google.com/storage/docs/request-preconditions describes them:
``ifGenerationMatch`` (0: the object must not exist), ``ifGenerationNotMatch``,
``ifMetagenerationMatch``, ``ifMetagenerationNotMatch``. On a write, delete or metadata
change a condition that does not hold is 412; on a read a failed ``...NotMatch`` is 304
Not Modified and a failed ``...Match`` 412. A write checks its conditions and stores in
one step under one lock, so of two create-if-absent writers exactly one wins.

Error bodies are Google's JSON errors::

    {"error": {"code": 412, "message": "At least one of the pre-conditions you specified
     did not hold.", "errors": [{"message": ..., "domain": "global",
     "reason": "conditionNotMet", "locationType": "header", "location": "If-Match"}]}}
    {"error": {"code": 404, "message": "No such object: BUCKET/NAME", "errors":
     [{"message": ..., "domain": "global", "reason": "notFound"}]}}

Sources: the 412 text and reason as a captured Cloud Storage answer in a public client's
tests (2026-09-29, bucket patch) and helm-gcs's test fixture (with the header location);
"No such object: BUCKET/NAME" / notFound in several public fixtures of real answers.
Documented guesses: "The specified bucket does not exist." for a missing bucket, and
the texts of 400s (a missing name, a checksum that does not match, a bad range).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import google_crc32c

__all__ = [
    "PRECONDITION_FAILED",
    "Conditions",
    "GcsError",
    "NotModified",
    "StorageState",
    "StoredObject",
    "crc32c_of",
    "md5_of",
]

PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold."
MAX_RESULTS = 1000  # the most the API returns per page


class GcsError(Exception):
    """An error answer: HTTP status, message, reason and extra fields of ``errors[0]``."""

    def __init__(self, code: int, message: str, reason: str, **extra: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        detail = {"message": self.message, "domain": "global", "reason": self.reason}
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [detail | self.extra],
            }
        }


class NotModified(Exception):
    """A read whose ``...NotMatch`` condition did not hold: 304, no body."""


def no_such_object(bucket: str, name: str) -> GcsError:
    return GcsError(404, f"No such object: {bucket}/{name}", "notFound")


def no_such_bucket() -> GcsError:
    return GcsError(404, "The specified bucket does not exist.", "notFound")


def precondition_failed() -> GcsError:
    return GcsError(
        412, PRECONDITION_FAILED, "conditionNotMet", locationType="header", location="If-Match"
    )


def invalid(message: str, reason: str = "invalid") -> GcsError:
    return GcsError(400, message, reason)


def md5_of(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def crc32c_of(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode("ascii")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _int(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid(f"Invalid value for {name}: {value}") from None


@dataclass(frozen=True)
class Conditions:
    """The preconditions of one request (``prefix`` "" for the object, "Source" for the
    source of a copy or rewrite)."""

    generation_match: int | None = None
    generation_not_match: int | None = None
    metageneration_match: int | None = None
    metageneration_not_match: int | None = None

    @classmethod
    def from_query(cls, query: dict[str, str], prefix: str = "") -> Conditions:
        def name(suffix: str) -> str:
            return f"if{prefix}{suffix}"

        # the Python client spells one of them ifMetaGenerationNotMatch on uploads
        meta_not = _int(query, name("MetagenerationNotMatch"))
        if meta_not is None:
            meta_not = _int(query, name("MetaGenerationNotMatch"))
        return cls(
            _int(query, name("GenerationMatch")),
            _int(query, name("GenerationNotMatch")),
            _int(query, name("MetagenerationMatch")),
            meta_not,
        )

    def check_write(self, current: StoredObject | None) -> None:
        generation = current.generation if current else 0
        if self.generation_match is not None and self.generation_match != generation:
            raise precondition_failed()
        if self.generation_not_match is not None and self.generation_not_match == generation:
            raise precondition_failed()
        if self.metageneration_match is not None and (
            current is None or current.metageneration != self.metageneration_match
        ):
            raise precondition_failed()
        if (
            self.metageneration_not_match is not None
            and current is not None
            and current.metageneration == self.metageneration_not_match
        ):
            raise precondition_failed()

    def check_read(self, current: StoredObject) -> None:
        if self.generation_match is not None and self.generation_match != current.generation:
            raise precondition_failed()
        if (
            self.metageneration_match is not None
            and self.metageneration_match != current.metageneration
        ):
            raise precondition_failed()
        if self.generation_not_match == current.generation:
            raise NotModified()
        if self.metageneration_not_match == current.metageneration:
            raise NotModified()


@dataclass
class StoredObject:
    bucket: str
    name: str
    data: bytes
    generation: int
    content_type: str
    metadata: dict[str, str]
    created: datetime
    updated: datetime
    metageneration: int = 1
    md5: str = ""
    crc32c: str = ""

    def __post_init__(self) -> None:
        self.md5 = md5_of(self.data)
        self.crc32c = crc32c_of(self.data)

    @property
    def etag(self) -> str:
        return base64.b64encode(f"{self.generation}/{self.metageneration}".encode()).decode()

    def resource(self, endpoint: str) -> dict[str, Any]:
        """The object's JSON resource: int64 values as strings, as the API writes them."""
        quoted = quote(self.name, safe="")
        resource: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{endpoint}/storage/v1/b/{self.bucket}/o/{quoted}",
            "mediaLink": (
                f"{endpoint}/download/storage/v1/b/{self.bucket}/o/{quoted}"
                f"?generation={self.generation}&alt=media"
            ),
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": str(self.metageneration),
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.data)),
            "md5Hash": self.md5,
            "crc32c": self.crc32c,
            "etag": self.etag,
            "timeCreated": _rfc3339(self.created),
            "updated": _rfc3339(self.updated),
            "timeStorageClassUpdated": _rfc3339(self.created),
        }
        if self.metadata:
            resource["metadata"] = dict(self.metadata)
        return resource


@dataclass
class StorageState:
    project_number: str = "123456789012"
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    _last_generation: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # buckets ---------------------------------------------------------------------------
    def create_bucket(self, name: str, location: str = "US-CENTRAL1") -> dict[str, Any]:
        with self._lock:
            if name in self.buckets:
                raise GcsError(
                    409,
                    "Your previous request to create the named bucket succeeded and you "
                    "already own it.",
                    "conflict",
                )
            now = _rfc3339(datetime.now(UTC))
            self.buckets[name] = {
                "kind": "storage#bucket",
                "id": name,
                "name": name,
                "projectNumber": self.project_number,
                "metageneration": "1",
                "location": location,
                "locationType": "region",
                "storageClass": "STANDARD",
                "timeCreated": now,
                "updated": now,
                "etag": "CAE=",
            }
            return self.buckets[name]

    def bucket(self, name: str) -> dict[str, Any]:
        found = self.buckets.get(name)
        if found is None:
            raise no_such_bucket()
        return found

    # objects ---------------------------------------------------------------------------
    def get(self, bucket: str, name: str, generation: int | None = None) -> StoredObject:
        with self._lock:
            self.bucket(bucket)
            found = self.objects.get((bucket, name))
            if found is None or (generation is not None and generation != found.generation):
                raise no_such_object(bucket, name)
            return found

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        conditions: Conditions | None = None,
    ) -> StoredObject:
        """Check ``conditions`` and store, in one step."""
        if not name:
            raise invalid("Required", "required")
        if len(name.encode()) > 1024 or "\r" in name or "\n" in name:
            raise invalid(f"Invalid object name: {name[:64]!r}")
        with self._lock:
            self.bucket(bucket)
            current = self.objects.get((bucket, name))
            if conditions is not None:
                conditions.check_write(current)
            now = datetime.now(UTC)
            stored = StoredObject(
                bucket,
                name,
                bytes(data),
                self._next_generation(),
                content_type or "application/octet-stream",
                {str(k): str(v) for k, v in (metadata or {}).items() if v is not None},
                created=now,
                updated=now,
            )
            self.objects[(bucket, name)] = stored
            return stored

    def patch(
        self,
        bucket: str,
        name: str,
        changes: dict[str, Any],
        conditions: Conditions,
        *,
        generation: int | None = None,
        replace: bool = False,
    ) -> StoredObject:
        """PATCH (``metadata`` keys merged, a null value removes one) or PUT (``replace``:
        the writable fields become what the body says)."""
        with self._lock:
            current = self.get(bucket, name, generation)
            conditions.check_write(current)
            if "metadata" in changes or replace:
                given = changes.get("metadata") or {}
                merged = {} if (replace or changes.get("metadata") is None) else current.metadata
                merged = dict(merged)
                for key, value in given.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = str(value)
                current.metadata = merged
            if "contentType" in changes or replace:
                current.content_type = changes.get("contentType") or "application/octet-stream"
            current.metageneration += 1
            current.updated = datetime.now(UTC)
            return current

    def delete(
        self, bucket: str, name: str, conditions: Conditions, generation: int | None = None
    ) -> None:
        with self._lock:
            current = self.get(bucket, name, generation)
            conditions.check_write(current)
            del self.objects[(bucket, name)]

    def copy(
        self,
        source: tuple[str, str],
        destination: tuple[str, str],
        overrides: dict[str, Any],
        *,
        conditions: Conditions,
        source_conditions: Conditions,
        source_generation: int | None = None,
    ) -> StoredObject:
        """copyTo / rewriteTo: the source's bytes; metadata and content type from the
        request body where it gives them, else the source's."""
        with self._lock:
            original = self.get(*source, source_generation)
            source_conditions.check_read(original)
            metadata = overrides.get("metadata")
            return self.put(
                *destination,
                original.data,
                content_type=overrides.get("contentType") or original.content_type,
                metadata=dict(original.metadata) if metadata is None else metadata,
                conditions=conditions,
            )

    def list(self, bucket: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of objects.list: ``prefix``, ``delimiter``, ``startOffset`` /
        ``endOffset``, ``maxResults`` (<= 1000) and an opaque ``pageToken``; ``fields``
        and ``projection`` are accepted and every field is returned."""
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        start, end = query.get("startOffset", ""), query.get("endOffset", "")
        size = min(_int(query, "maxResults") or MAX_RESULTS, MAX_RESULTS)
        after = _decode_token(query.get("pageToken", ""))
        with self._lock:
            self.bucket(bucket)
            names = sorted(n for (b, n) in self.objects if b == bucket and n.startswith(prefix))
            entries: dict[str, StoredObject | None] = {}  # key -> object, or None: a prefix
            for name in names:
                if (start and name < start) or (end and name >= end):
                    continue
                cut = name.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    entries.setdefault(name[: cut + len(delimiter)], None)
                else:
                    entries[name] = self.objects[(bucket, name)]
            keys = [key for key in sorted(entries) if key > after]
            page = keys[:size]
            result: dict[str, Any] = {"kind": "storage#objects"}
            items = [entries[k] for k in page if entries[k] is not None]
            prefixes = [k for k in page if entries[k] is None]
            if items:
                result["items"] = items
            if prefixes:
                result["prefixes"] = prefixes
            if len(keys) > size:
                result["nextPageToken"] = _encode_token(page[-1])
            return result

    def _next_generation(self) -> int:
        self._last_generation = max(self._last_generation + 1, time.time_ns() // 1000)
        return self._last_generation


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def _decode_token(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except ValueError:
        raise invalid("Invalid page token.") from None
