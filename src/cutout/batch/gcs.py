"""GcsStore: a Cloud Storage bucket prefix as a :class:`~cutout.batch.store.Store`.

Talks to Cloud Storage through ``google-cloud-storage`` (the ``gcs`` extra, imported
when a store is made, never at module import). The client honours
``STORAGE_EMULATOR_HOST`` itself; tests hand in a client pointed at a local fake.

- Every call goes through one ``google.api_core`` Retry (the library's own predicate:
  429, 5xx, connection errors), also for uploads without a precondition, which the
  library would otherwise not retry: rewriting the same bytes is harmless.
- A write is one upload request carrying the custom metadata with the bytes (multipart;
  resumable above 8 MiB, as the library decides), so an object never exists without its
  provenance; Cloud Storage makes it visible only when complete.
- ``if_absent`` is ``ifGenerationMatch=0``; ``if_generation_match`` replaces only the
  version that was read. A 412 becomes ``WriteResult(written=False)`` unless the object
  that is there is byte-for-byte this write with this metadata: that is a retried request
  whose first attempt landed (its answer was lost), so it counts as written.
- Downloads are checked by the library against the object's CRC32C (or MD5).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from cutout.batch.errors import StorageError, translate_gcs
from cutout.batch.locations import GcsLocation
from cutout.batch.store import META_DIR, TEXT, Item, WriteResult, check_write_conditions
from cutout.errors import BackendUnavailableError

__all__ = ["GcsStore", "gcs_retry"]

_DEFAULT_TIMEOUT_S = 60.0


def gcs_retry(*, initial_s: float = 1.0, maximum_s: float = 32.0, deadline_s: float = 120.0) -> Any:
    """The library's DEFAULT_RETRY (which errors to retry) with this pace and deadline."""
    try:
        from google.cloud.storage.retry import DEFAULT_RETRY
    except ImportError as exc:
        raise _extra_missing() from exc
    return DEFAULT_RETRY.with_delay(initial=initial_s, maximum=maximum_s).with_timeout(deadline_s)


class GcsStore:
    """``gs://bucket/prefix``; ``client`` is a ``google.cloud.storage.Client`` (default: one
    with Application Default Credentials); ``retry`` an api_core Retry (see gcs_retry);
    ``connections``: how many requests the caller will have in flight at once (the
    client's connection pool keeps 10 by default and reconnects for every request
    beyond that)."""

    def __init__(
        self,
        location: GcsLocation,
        *,
        client: Any = None,
        retry: Any = None,
        timeout_s: float = _DEFAULT_TIMEOUT_S,
        page_size: int | None = None,
        connections: int | None = None,
    ) -> None:
        try:
            import google.cloud.storage as storage
            from google.api_core.exceptions import GoogleAPIError
            from google.auth.exceptions import GoogleAuthError
            from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
        except ImportError as exc:
            raise _extra_missing() from exc
        # what the library raises (requests' errors are OSErrors); anything else is a bug
        # and propagates as it is
        self._foreign: tuple[type[BaseException], ...] = (
            GoogleAPIError,
            GoogleAuthError,
            OSError,
            InvalidResponse,
            DataCorruption,
        )
        if client is None:
            try:
                client = storage.Client()
            except (GoogleAuthError, OSError) as exc:  # DefaultCredentialsError and kin
                raise StorageError(
                    f"cannot reach {location}: no usable Google credentials ({exc}); run "
                    "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
                ) from exc
        if connections is not None:
            _widen_pool(client, connections)
        self._location = location
        self._client = client
        self._bucket = client.bucket(location.bucket)
        self._retry = retry if retry is not None else gcs_retry()
        self._timeout_s = timeout_s
        self._page_size = page_size

    @property
    def location(self) -> GcsLocation:
        return self._location

    # reading ---------------------------------------------------------------------------
    def list(self, prefix: str = "") -> list[Item]:
        root = self._location.prefix
        include_own = prefix.startswith(META_DIR)
        items = []
        try:
            for blob in self._client.list_blobs(
                self._bucket,
                prefix=root + prefix,
                page_size=self._page_size,
                retry=self._retry,
                timeout=self._timeout_s,
            ):
                name = blob.name[len(root) :]
                # "folders" made in the console are empty objects named like "shoes/"
                if name.endswith("/") or (not include_own and name.startswith(META_DIR)):
                    continue
                items.append(self._item(name, blob))
        except self._foreign as exc:
            raise translate_gcs(exc, f"list {self._location.join(prefix)}") from exc
        return sorted(items, key=lambda item: item.name)

    def read(self, name: str) -> bytes:
        blob = self._bucket.blob(self._location.prefix + name)
        try:
            data: bytes = blob.download_as_bytes(retry=self._retry, timeout=self._timeout_s)
        except self._foreign as exc:
            raise translate_gcs(exc, f"read {self._location.join(name)}") from exc
        return data

    def stat(self, name: str) -> Item | None:
        try:
            blob = self._bucket.get_blob(
                self._location.prefix + name, retry=self._retry, timeout=self._timeout_s
            )
        except self._foreign as exc:
            raise translate_gcs(exc, f"stat {self._location.join(name)}") from exc
        return None if blob is None else self._item(name, blob)

    def content_digest(self, data: bytes) -> str:
        return _md5(data)

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
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(self._location.prefix + name)
        blob.metadata = dict(metadata)
        condition = 0 if if_absent else if_generation_match
        action = f"write {self._location.join(name)}"
        try:
            blob.upload_from_string(
                data,
                content_type=content_type or "application/octet-stream",
                if_generation_match=condition,
                retry=self._retry,
                timeout=self._timeout_s,
            )
        except PreconditionFailed:
            current = self.stat(name)
            if current is None:
                return WriteResult(False, None)
            landed = current.digest == _md5(data) and dict(current.metadata or {}) == dict(metadata)
            return WriteResult(landed, current.generation)
        except self._foreign as exc:
            raise translate_gcs(exc, action) from exc
        return WriteResult(True, int(blob.generation))

    def write_text(self, name: str, text: str, *, content_type: str = TEXT) -> None:
        blob = self._bucket.blob(self._location.prefix + name)
        try:
            blob.upload_from_string(
                text.encode("utf-8"),
                content_type=content_type,
                retry=self._retry,
                timeout=self._timeout_s,
            )
        except self._foreign as exc:
            raise translate_gcs(exc, f"write {self._location.join(name)}") from exc

    # internals -------------------------------------------------------------------------
    def _item(self, name: str, blob: Any) -> Item:
        # composite objects have no MD5; they then have no digest to compare by
        digest = f"md5:{blob.md5_hash}" if blob.md5_hash else None
        metadata = dict(blob.metadata or {})
        return Item(name, int(blob.size or 0), int(blob.generation), metadata, _known(digest))


def _widen_pool(client: Any, connections: int) -> None:
    """Let the client's HTTP session keep ``connections`` connections open (requests'
    default is 10; beyond that every request opens a new connection, TLS handshake
    included). The session is google-cloud-core's ``Client._http``: a requests Session."""
    import requests

    session = getattr(client, "_http", None)
    if connections > requests.adapters.DEFAULT_POOLSIZE and isinstance(session, requests.Session):
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=connections)
        session.mount("https://", adapter)
        session.mount("http://", adapter)


def _known(digest: str | None) -> Callable[[], str | None] | None:
    return None if digest is None else lambda: digest


def _md5(data: bytes) -> str:
    return "md5:" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _extra_missing() -> BackendUnavailableError:
    return BackendUnavailableError(
        "reading or writing gs:// needs the gcs extra: pip install 'cutout[gcs]'"
    )
