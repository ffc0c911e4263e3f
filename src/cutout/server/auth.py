"""Optional API keys (``X-Api-Key``), stored as SHA-256 digests, compared in constant time.

Keys come from ``CUTOUT_API_KEYS`` (comma-separated) and/or ``CUTOUT_API_KEYS_FILE``
(one key per line, ``#`` comments). With no keys configured the server is open. A
missing or wrong key is 403 ``auth_failed`` in remove.bg's error format.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from fastapi import Request, Security
from fastapi.params import Depends
from fastapi.security import APIKeyHeader

from cutout.errors import ConfigError
from cutout.server.errors import AuthError

__all__ = ["ANONYMOUS", "API_KEY", "KeyStore", "authorize", "load_keys"]

ANONYMOUS = "anonymous"

# Documents the key in /openapi.json (securitySchemes); the check itself is authorize(),
# which also knows whether keys are configured at all.
API_KEY: Depends = Security(
    APIKeyHeader(
        name="X-Api-Key",
        auto_error=False,
        description="required when the server has API keys configured",
    )
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyStore:
    """The digests of the accepted keys; the keys themselves are not kept."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._digests = tuple({_digest(key) for key in keys if key})

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, presented: str | None) -> str:
        """A stable, non-secret id of the key (its digest prefix), or AuthError."""
        if not self.enabled:
            return ANONYMOUS
        if not presented:
            raise AuthError("missing API key: send it in the X-Api-Key header")
        candidate = _digest(presented)
        matched = False
        for digest in self._digests:
            # every digest is compared, so the time does not tell which one matched
            matched |= hmac.compare_digest(candidate, digest)
        if not matched:
            raise AuthError("invalid API key")
        return "key-" + candidate.hex()[:12]


def load_keys(inline: Iterable[str], file: Path | None) -> KeyStore:
    keys = [key.strip() for key in inline if key.strip()]
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read API keys file {file}: {exc.strerror}") from exc
        keys.extend(
            line.strip() for line in lines if line.strip() and not line.strip().startswith("#")
        )
    return KeyStore(keys)


def authorize(request: Request) -> str:
    """The caller's key id (or ``anonymous`` when keys are off); raises AuthError."""
    store: KeyStore = request.app.state.cutout.keys
    key_id = store.identify(request.headers.get("x-api-key"))
    request.state.key_id = key_id
    return key_id
