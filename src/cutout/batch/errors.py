"""Errors of the batch storage layer, and the one place Cloud Storage exceptions are read.

::

    StorageError (cutout.errors)      any other listing, read or write failure
    ├── StorageNotFoundError          the folder, bucket or object is not there
    └── StoragePermissionError        the credentials may not list, read or write it

A precondition that does not hold (the output already exists, or changed since it was
read) is not an error: :meth:`~cutout.batch.store.Store.write` answers it with a
:class:`~cutout.batch.store.WriteResult` whose ``written`` is false.
"""

from __future__ import annotations

from cutout.errors import StorageError

__all__ = ["StorageError", "StorageNotFoundError", "StoragePermissionError", "translate_gcs"]


class StorageNotFoundError(StorageError):
    code = "storage_not_found"


class StoragePermissionError(StorageError):
    code = "storage_permission_denied"


def translate_gcs(exc: BaseException, action: str) -> StorageError:
    """A google-cloud-storage / api_core / requests exception as a StorageError naming ``action``.

    Call as ``raise translate_gcs(exc, "read gs://b/x") from exc``.
    """
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.NotFound):
        return StorageNotFoundError(f"{action}: not found ({_google_message(exc)})")
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized):
        return StoragePermissionError(
            f"{action}: permission denied ({_google_message(exc)}); check the credentials "
            "and the bucket's IAM roles (roles/storage.objectUser covers list, read and write)"
        )
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause if exc.cause is not None else exc
        return StorageError(f"{action}: still failing after retries: {_google_message(cause)}")
    if isinstance(exc, gexc.GoogleAPICallError):
        return StorageError(f"{action}: {_google_message(exc)}")
    return StorageError(f"{action}: {type(exc).__name__}: {exc}")


def _google_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    code = getattr(exc, "code", None)
    if isinstance(message, str) and message:
        return f"HTTP {code}: {message}" if code else message
    return f"{type(exc).__name__}: {exc}"
