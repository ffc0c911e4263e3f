"""A faithful local fake of the Cloud Storage JSON API, for Google's own Python client.

A real HTTP server on loopback; ``google-cloud-storage`` talks to it when
``STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT`` is set (it then uses anonymous
credentials)::

    with FakeStorage() as fake:
        fake.create_bucket("shop-catalogue")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake.endpoint)
        client = storage.Client(project="shop-prod")

Served: bucket get/insert; objects list (prefix, delimiter, pages), get (metadata, or
media with ``alt=media`` / the ``/download`` path, ``generation``, ``Range``), patch,
update, delete, copyTo, rewriteTo; uploads ``uploadType=media``, ``multipart`` (metadata
and bytes in one request, checked against the MD5 / CRC32C the client sends) and
``resumable`` (a session URL in ``Location``; ``Content-Range`` chunks answered with 308
and ``Range: bytes=0-N``; only whole 256 KiB units of a non-final chunk are kept, as the
service does; the object appears only when the last byte is in, so an abandoned upload
leaves nothing). Downloads carry ``X-Goog-Hash: crc32c=...,md5=...`` and
``X-Goog-Generation``, so the client's checksum check runs. Object rules and error
texts: :mod:`tests.fakes.storage_objects`.

Knobs for tests: :attr:`FakeStorage.delay_s` (every request waits that long first, the
server answering many at once: a store that answers in 50 ms; :attr:`max_in_flight`
says how many it answered at one time), :meth:`fail_next` (the
next N matching requests get a 503, or any status; ``after_apply`` makes the request
take effect and then answer with the error: a lost response), :meth:`corrupt_next_download`.
Every request is recorded in :attr:`FakeStorage.requests`. Unless
``DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA`` is set (the ``storage_client``
fixture sets it) the client also fetches bucket metadata in the background
(``GET /storage/v1/b/BUCKET``), so assert on the paths you mean (:meth:`requests_to`).

Not modelled: object versioning and soft delete, ACLs and IAM, compose, XML API,
signed URLs, customer-supplied encryption keys, gzip transcoding, upload session
expiry, request rate limits.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.loopback import LoopbackServer
from tests.fakes.storage_objects import (
    Conditions,
    GcsError,
    NotModified,
    StorageState,
    StoredObject,
    crc32c_of,
    invalid,
    md5_of,
)

__all__ = ["FakeStorage", "StorageRequest"]

_SEG = r"([^/]+)"
_CHUNK_UNIT = 256 * 1024
_JSON = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class StorageRequest:
    method: str
    path: str  # decoded: object names read as they are
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body_size: int
    status: int


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    path_contains: str
    after_apply: bool


@dataclass
class _Session:
    bucket: str
    name: str
    content_type: str
    metadata: dict[str, str]
    conditions: Conditions
    data: bytearray = field(default_factory=bytearray)
    total: int | None = None
    result: StoredObject | None = None


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> _Answer:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": _JSON} | headers)


class FakeStorage(LoopbackServer):
    """The fake Cloud Storage JSON API behind one loopback HTTP server."""

    def __init__(self, *, project_number: str = "123456789012", delay_s: float = 0.0) -> None:
        self.state = StorageState(project_number)
        self.delay_s = delay_s
        self.requests: list[StorageRequest] = []
        self.errors: list[Exception] = []  # bugs of the fake itself
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at one time
        self._faults: list[_Fault] = []
        self._corrupt_downloads = 0
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], Any]] = [
            ("GET", re.compile(rf"/storage/v1/b/{_SEG}"), self._get_bucket),
            ("POST", re.compile(r"/storage/v1/b"), self._insert_bucket),
            ("GET", re.compile(rf"/storage/v1/b/{_SEG}/o"), self._list),
            ("GET", re.compile(rf"/storage/v1/b/{_SEG}/o/{_SEG}"), self._get),
            ("GET", re.compile(rf"/download/storage/v1/b/{_SEG}/o/{_SEG}"), self._media),
            ("PATCH", re.compile(rf"/storage/v1/b/{_SEG}/o/{_SEG}"), self._patch),
            ("PUT", re.compile(rf"/storage/v1/b/{_SEG}/o/{_SEG}"), self._update),
            ("DELETE", re.compile(rf"/storage/v1/b/{_SEG}/o/{_SEG}"), self._delete),
            (
                "POST",
                re.compile(rf"/storage/v1/b/{_SEG}/o/{_SEG}/(copyTo|rewriteTo)/b/{_SEG}/o/{_SEG}"),
                self._copy,
            ),
            ("POST", re.compile(rf"/upload/storage/v1/b/{_SEG}/o"), self._upload),
            ("PUT", re.compile(rf"/upload/storage/v1/b/{_SEG}/o"), self._upload_chunk),
            ("DELETE", re.compile(rf"/upload/storage/v1/b/{_SEG}/o"), self._cancel_upload),
        ]

    # seeding and inspection ------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        self.state.create_bucket(name)

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Store an object directly (no request), as if uploaded."""
        return self.state.put(bucket, name, data, content_type=content_type, metadata=metadata)

    def object(self, bucket: str, name: str) -> StoredObject | None:
        return self.state.objects.get((bucket, name))

    def names(self, bucket: str) -> list[str]:
        """The bucket's object names; safe to call while requests are being answered."""
        with self.state._lock:
            return sorted(n for (b, n) in self.state.objects if b == bucket)

    def requests_to(self, method: str, path_contains: str) -> list[StorageRequest]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    # knobs -----------------------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        method: str | None = None,
        path_contains: str = "",
        after_apply: bool = False,
    ) -> None:
        """The next ``count`` requests matching ``method`` and ``path_contains`` (the
        decoded path) are answered with ``status`` and Google's error body; with
        ``after_apply`` each first takes effect (its answer is what gets lost)."""
        with self._lock:
            self._faults.append(_Fault(count, status, method, path_contains, after_apply))

    def corrupt_next_download(self) -> None:
        """The next media download has one byte changed (its length and headers kept)."""
        with self._lock:
            self._corrupt_downloads += 1

    # HTTP plumbing ---------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, method)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = self._take_fault(method, unquote(url.path))
        try:
            if fault is not None and not fault.after_apply:
                raise _fault_error(fault.status)
            answer = self._route(method, url.path, query, headers, body)
            if fault is not None:
                raise _fault_error(fault.status)
        except GcsError as error:
            answer = _Answer.json(error.to_json(), error.code)
        except NotModified:
            answer = _Answer(304)
        except Exception as error:  # a bug in the fake: answer 500 so the test fails loudly
            self.errors.append(error)
            answer = _Answer.json(
                GcsError(500, f"fake bug: {error!r}", "backendError").to_json(), 500
            )
        with self._lock:
            self.requests.append(
                StorageRequest(method, unquote(url.path), query, headers, len(body), answer.status)
            )
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and fault.method in (None, method)
                    and fault.path_contains in path
                ):
                    fault.remaining -= 1
                    return fault
        return None

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Answer:
        for route_method, pattern, function in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                parts = [unquote(group) for group in match.groups()]
                answer: _Answer = function(*parts, query=query, headers=headers, body=body)
                return answer
        raise GcsError(404, f"Not Found: {method} {path}", "notFound")

    def _object_json(self, stored: StoredObject) -> _Answer:
        return _Answer.json(stored.resource(self.endpoint))

    # buckets ---------------------------------------------------------------------------
    def _get_bucket(self, bucket: str, **_: Any) -> _Answer:
        return _Answer.json(self.state.bucket(bucket))

    def _insert_bucket(self, *, body: bytes, **_: Any) -> _Answer:
        name = (json.loads(body or b"{}")).get("name")
        if not name:
            raise invalid("Required", "required")
        return _Answer.json(self.state.create_bucket(name))

    # objects ---------------------------------------------------------------------------
    def _list(self, bucket: str, *, query: dict[str, str], **_: Any) -> _Answer:
        page = self.state.list(bucket, query)
        if "items" in page:
            page["items"] = [item.resource(self.endpoint) for item in page["items"]]
        return _Answer.json(page)

    def _get(self, bucket: str, name: str, *, query: dict[str, str], **kw: Any) -> _Answer:
        if query.get("alt") == "media":
            return self._media(bucket, name, query=query, **kw)
        stored = self.state.get(bucket, name, _generation(query))
        Conditions.from_query(query).check_read(stored)
        return self._object_json(stored)

    def _media(
        self, bucket: str, name: str, *, query: dict[str, str], headers: dict[str, str], **_: Any
    ) -> _Answer:
        stored = self.state.get(bucket, name, _generation(query))
        Conditions.from_query(query).check_read(stored)
        data, size = stored.data, len(stored.data)
        with self._lock:
            corrupt = self._corrupt_downloads > 0
            self._corrupt_downloads -= corrupt
        if corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        answer = _Answer(
            200,
            data,
            {
                "Content-Type": stored.content_type,
                "X-Goog-Hash": f"crc32c={stored.crc32c},md5={stored.md5}",
                "X-Goog-Generation": str(stored.generation),
                "X-Goog-Metageneration": str(stored.metageneration),
                "X-Goog-Stored-Content-Length": str(size),
                "X-Goog-Stored-Content-Encoding": "identity",
                "ETag": f'"{stored.etag}"',
                "Accept-Ranges": "bytes",
            },
        )
        wanted = headers.get("range")
        if wanted:
            first, last = _byte_range(wanted, size)
            answer.status = 206
            answer.body = data[first : last + 1]
            answer.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return answer

    def _patch(
        self, bucket: str, name: str, *, query: dict[str, str], body: bytes, **_: Any
    ) -> _Answer:
        changes = json.loads(body or b"{}")
        stored = self.state.patch(
            bucket, name, changes, Conditions.from_query(query), generation=_generation(query)
        )
        return self._object_json(stored)

    def _update(
        self, bucket: str, name: str, *, query: dict[str, str], body: bytes, **_: Any
    ) -> _Answer:
        changes = json.loads(body or b"{}")
        stored = self.state.patch(
            bucket,
            name,
            changes,
            Conditions.from_query(query),
            generation=_generation(query),
            replace=True,
        )
        return self._object_json(stored)

    def _delete(self, bucket: str, name: str, *, query: dict[str, str], **_: Any) -> _Answer:
        self.state.delete(bucket, name, Conditions.from_query(query), _generation(query))
        return _Answer(204)

    def _copy(
        self,
        source_bucket: str,
        source_name: str,
        verb: str,
        bucket: str,
        name: str,
        *,
        query: dict[str, str],
        body: bytes,
        **_: Any,
    ) -> _Answer:
        stored = self.state.copy(
            (source_bucket, source_name),
            (bucket, name),
            json.loads(body or b"{}"),
            conditions=Conditions.from_query(query),
            source_conditions=Conditions.from_query(query, "Source"),
            source_generation=_int_or_none(query.get("sourceGeneration")),
        )
        if verb == "copyTo":
            return self._object_json(stored)
        size = str(len(stored.data))
        return _Answer.json(
            {
                "kind": "storage#rewriteResponse",
                "totalBytesRewritten": size,
                "objectSize": size,
                "done": True,
                "resource": stored.resource(self.endpoint),
            }
        )

    # uploads ---------------------------------------------------------------------------
    def _upload(
        self, bucket: str, *, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Answer:
        kind = query.get("uploadType", "")
        conditions = Conditions.from_query(query)
        if kind == "media":
            stored = self.state.put(
                bucket,
                query.get("name", ""),
                body,
                content_type=headers.get("content-type", ""),
                conditions=conditions,
            )
            return self._object_json(stored)
        if kind == "multipart":
            resource, data, part_type = _multipart(headers.get("content-type", ""), body)
            _check_hashes(resource.get("md5Hash"), resource.get("crc32c"), data)
            stored = self.state.put(
                bucket,
                resource.get("name") or query.get("name", ""),
                data,
                content_type=resource.get("contentType") or part_type,
                metadata=resource.get("metadata"),
                conditions=conditions,
            )
            return self._object_json(stored)
        if kind == "resumable":
            return self._start_session(bucket, query, headers, body, conditions)
        raise invalid(f"Invalid upload type: {kind!r}")

    def _start_session(
        self,
        bucket: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        conditions: Conditions,
    ) -> _Answer:
        resource = json.loads(body or b"{}")
        name = resource.get("name") or query.get("name", "")
        if not name:
            raise invalid("Required", "required")
        self.state.bucket(bucket)
        # the conditions are checked now (an early answer) and again when the last
        # byte arrives (what counts)
        conditions.check_write(self.state.objects.get((bucket, name)))
        session_id = uuid.uuid4().hex
        content_type = (
            resource.get("contentType")
            or headers.get("x-upload-content-type")
            or "application/octet-stream"
        )
        with self._lock:
            self._sessions[session_id] = _Session(
                bucket, name, content_type, dict(resource.get("metadata") or {}), conditions
            )
        location = (
            f"{self.endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
            f"?uploadType=resumable&name={quote(name, safe='')}&upload_id={session_id}"
        )
        return _Answer(200, b"", {"Location": location, "X-GUploader-UploadID": session_id})

    def _upload_chunk(
        self, bucket: str, *, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Answer:
        session = self._session(query)
        with self._lock:
            if session.result is not None:  # finished: the answer again, for a retry
                return self._object_json(session.result)
            first, total = _content_range(headers.get("content-range", ""), len(body))
            if total is not None:
                session.total = total
            if first is not None:
                if first > len(session.data):
                    raise invalid(
                        f"Invalid request: the upload has {len(session.data)} bytes; a chunk "
                        f"cannot start at {first}."
                    )
                fresh = body[len(session.data) - first :]
                final = (
                    session.total is not None and len(session.data) + len(fresh) >= session.total
                )
                if not final:  # only whole 256 KiB units of a non-final chunk are kept
                    fresh = fresh[: len(fresh) - (len(fresh) % _CHUNK_UNIT)]
                session.data.extend(fresh)
            if session.total is not None and len(session.data) > session.total:
                raise invalid("Invalid request: more bytes than the upload's declared size.")
            if session.total is None or len(session.data) < session.total:
                persisted = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
                return _Answer(308, b"", persisted)
        _check_hashes(*_hash_header(headers.get("x-goog-hash", "")), bytes(session.data))
        stored = self.state.put(
            session.bucket,
            session.name,
            bytes(session.data),
            content_type=session.content_type,
            metadata=session.metadata,
            conditions=session.conditions,
        )
        session.result = stored
        return self._object_json(stored)

    def _cancel_upload(self, bucket: str, *, query: dict[str, str], **_: Any) -> _Answer:
        session = self._session(query)
        with self._lock:
            self._sessions.pop(query["upload_id"], None)
        del session
        return _Answer(499)

    def _session(self, query: dict[str, str]) -> _Session:
        session = self._sessions.get(query.get("upload_id", ""))
        if session is None:
            raise GcsError(404, "No such upload session.", "notFound")
        return session


def _fault_error(status: int) -> GcsError:
    if status == 429:
        return GcsError(429, "The rate of requests is too high; retry later.", "rateLimitExceeded")
    return GcsError(status, "We encountered an internal error. Please try again.", "backendError")


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


def _generation(query: dict[str, str]) -> int | None:
    return _int_or_none(query.get("generation"))


def _byte_range(header: str, size: int) -> tuple[int, int]:
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if match is None or match.groups() == ("", ""):
        raise invalid(f"Invalid Range header: {header}")
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        first, last = max(size - int(last_text), 0), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise GcsError(416, "Request range not satisfiable", "requestedRangeNotSatisfiable")
    return first, last


def _content_range(header: str, body_size: int) -> tuple[int | None, int | None]:
    """(first byte or None for a status query, total or None when not known yet)."""
    match = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\*|\d+)", header.strip())
    if match is None:
        raise invalid(f"Invalid Content-Range: {header!r}")
    total = None if match.group(4) == "*" else int(match.group(4))
    if match.group(1) == "*":
        return None, total
    first, last = int(match.group(2)), int(match.group(3))
    if last - first + 1 != body_size:
        raise invalid("Content-Range does not match the size of the request body.")
    return first, total


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    """(resource JSON, media bytes, media content type) of a multipart/related body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or match is None:
        raise invalid("A multipart upload needs Content-Type: multipart/related; boundary=...")
    parts = body.split(b"--" + match.group(1).encode())
    if len(parts) < 4 or not parts[-1].startswith(b"--"):
        raise invalid("Invalid multipart request: expected a metadata part and a media part.")
    sections = []
    for part in parts[1:3]:
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        found = re.search(rb"content-type:\s*([^\r\n]+)", head, re.IGNORECASE)
        sections.append((found.group(1).decode() if found else "", content.removesuffix(b"\r\n")))
    resource = json.loads(sections[0][1] or b"{}")
    return resource, sections[1][1], sections[1][0]


def _hash_header(header: str) -> tuple[str | None, str | None]:
    """(md5, crc32c) from an ``X-Goog-Hash`` header."""
    found = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    return found.get("md5"), found.get("crc32c")


def _check_hashes(md5: str | None, crc32c: str | None, data: bytes) -> None:
    if md5 is not None and md5 != md5_of(data):
        raise invalid(
            f'Provided MD5 hash "{md5}" doesn\'t match calculated MD5 hash "{md5_of(data)}".'
        )
    if crc32c is not None and crc32c != crc32c_of(data):
        raise invalid(
            f'Provided CRC32C "{crc32c}" doesn\'t match calculated CRC32C "{crc32c_of(data)}".'
        )
