"""Download a model's weights into the cache: explicit, verified, resumable, atomic.

Called only by ``cutout models pull`` (and by people scripting it); never at import and
never from a constructor. The file streams into ``<cache>/<filename>.part``; when a partial
file is already there the download resumes with an HTTP ``Range`` request. A server that
ignores ``Range`` (answers 200) restarts the file from byte zero; a resumed file that fails
its checksum is deleted and downloaded once more from scratch. Only a file whose digest
matches the spec is renamed (atomically) to its final name.

The digests found are remembered for the unchanged file (:mod:`cutout.models.digests`), so
loading it later does not hash it again.

Failures raise :class:`DownloadError` (network, HTTP status, cut-off transfer; the message
names the model, the URL and the manual step) or :class:`ChecksumError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from cutout.errors import ChecksumError, DownloadError
from cutout.models import digests, locks
from cutout.models.spec import ModelSpec
from cutout.models.weights import cache_dir, check_digests, verify_file

__all__ = ["DownloadResult", "ProgressCallback", "download"]

# (bytes so far, total bytes or None)
ProgressCallback = Callable[[int, int | None], None]

_CHUNK = 1 << 16


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    downloaded: bool  # False when a verified file was already in the cache
    resumed: bool  # True when a partial file was continued with a Range request
    verified: bool  # False only for specs that publish no digest


def _has_digest(spec: ModelSpec) -> bool:
    return bool(spec.weights.sha256 or spec.weights.md5)


def _manual_step(spec: ModelSpec, url: str, target: Path) -> str:
    return (
        f"to install it by hand, download {url} yourself and copy it to {target}, "
        f"or pass it with --weights PATH (or CUTOUT_WEIGHTS=PATH)"
    )


def download(
    spec: ModelSpec,
    *,
    home: Path,
    url: str | None = None,
    force: bool = False,
    attempts: int = 3,
    timeout: float = 30.0,
    progress: ProgressCallback | None = None,
) -> DownloadResult:
    """Fetch ``spec``'s weights into the cache under ``home`` (``<home>/weights``).

    ``url`` overrides the spec's URL (a mirror). A verified file already in the cache is
    kept unless ``force``. Cut-off transfers are resumed up to ``attempts`` times. Two
    pulls of the same file (two shells, parallel image builds) take turns on a lock file.
    """
    source = url or spec.weights.url
    target = cache_dir(home) / spec.weights.filename
    if not source:
        raise DownloadError(f"model {spec.name} has no download URL; its weights ship in cutout")
    target.parent.mkdir(parents=True, exist_ok=True)
    with locks.exclusive(target.with_name(target.name + ".lock")):
        return _download(spec, home, source, target, force, attempts, timeout, progress)


def _download(
    spec: ModelSpec,
    home: Path,
    source: str,
    target: Path,
    force: bool,
    attempts: int,
    timeout: float,
    progress: ProgressCallback | None,
) -> DownloadResult:
    if target.is_file() and not force:
        try:  # verified again in full (and remembered): a pull is the explicit check
            sha256 = verify_file(spec, target, home=home, fresh=True)
        except ChecksumError:
            pass  # a damaged cached file is replaced below
        else:
            return DownloadResult(target, sha256, False, False, _has_digest(spec))
    part = target.with_name(target.name + ".part")
    if force:
        part.unlink(missing_ok=True)

    resumed_any = False
    last_error: Exception | None = None
    checksum_retry_left = True
    with httpx.Client(follow_redirects=True, timeout=timeout) as client:
        attempt = 0
        while attempt < attempts:
            attempt += 1
            try:
                resumed = _fetch(client, source, part, progress)
            except httpx.ConnectError as exc:
                raise DownloadError(
                    f"cannot download model {spec.name}: {source} is unreachable ({exc}); "
                    f"are you offline? {_manual_step(spec, source, target)}"
                ) from exc
            except (httpx.TransportError, _Incomplete) as exc:
                last_error = exc
                continue  # keep the .part: the next attempt resumes from it
            except httpx.HTTPStatusError as exc:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"downloading model {spec.name} from {source} failed: HTTP "
                    f"{exc.response.status_code}; {_manual_step(spec, source, target)}"
                ) from exc
            resumed_any = resumed_any or resumed
            fetched = digests.FileIdentity.of(part)
            found = digests.compute(part, ("sha256", "md5"))
            try:
                sha256 = check_digests(spec, part, found)
            except ChecksumError as exc:
                part.unlink(missing_ok=True)
                if resumed and checksum_retry_left:
                    # the old partial bytes may be from another file version: start clean
                    checksum_retry_left = False
                    attempt -= 1
                    continue
                raise ChecksumError(
                    f"downloaded weights for model {spec.name} from {source} do not match "
                    f"the published digest ({exc.message}); the file was deleted"
                ) from exc
            _fsync(part)
            os.replace(part, target)
            # the renamed file keeps the size and time it was hashed at
            placed = digests.FileIdentity(str(target.resolve()), fetched.size, fetched.mtime_ns)
            digests.remember(home, target, found, identity=placed)
            return DownloadResult(target, sha256, True, resumed_any, _has_digest(spec))
    assert last_error is not None
    raise DownloadError(
        f"downloading model {spec.name} from {source} failed after {attempts} attempts: "
        f"{_describe(last_error)}; {_manual_step(spec, source, target)}"
    ) from last_error


class _Incomplete(Exception):
    """The server closed the connection before sending Content-Length bytes."""


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


def _fetch(client: httpx.Client, url: str, part: Path, progress: ProgressCallback | None) -> bool:
    """Stream ``url`` into ``part``; returns True when it resumed a partial file."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset:
            # the partial file is as long as (or longer than) the resource: start again
            part.unlink(missing_ok=True)
            raise _Incomplete("partial file did not fit the resource; restarting")
        response.raise_for_status()
        resumed = offset > 0 and response.status_code == 206
        if not resumed:
            offset = 0  # the server ignored Range (200): the body is the whole file
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = offset + expected if expected is not None else None
        received = 0
        with part.open("ab" if resumed else "wb") as handle:
            try:
                for chunk in response.iter_bytes(_CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(offset + received, total)
            except httpx.RemoteProtocolError as exc:
                raise _Incomplete(f"connection closed after {offset + received} bytes") from exc
        if expected is not None and received < expected:
            raise _Incomplete(f"connection closed after {offset + received} of {total} bytes")
    return resumed


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
