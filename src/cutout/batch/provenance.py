"""What makes an output up to date: its source's identity and the options that shaped it.

An output's custom metadata (object metadata on Cloud Storage, the sidecar of a local
file) carries a :class:`Provenance`::

    cutout-source             shoes/red.jpg          the source's name, for people
    cutout-source-generation  1712345678901234       its generation when it was read
    cutout-source-size        48213
    cutout-source-digest      md5:1B2M2Y8AsgTpgAmY7PhCfg==   (sha256:<hex> for a file)
    cutout-options            sha256:9f2c...         options_digest(...)

:func:`is_current` is true when the options digest matches and the source is the same
version (same generation and size), or, failing that, has the same size and content
digest (a re-upload or a ``cp`` of identical bytes). A local file's digest is computed
only then, never for a file whose generation still matches. Anything missing or
malformed is "not current": an output without readable provenance is redone.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from cutout.batch.store import Item
from cutout.options import RemoveOptions

__all__ = ["KEYS", "Provenance", "is_current", "options_digest", "options_record"]

KEYS = (
    "cutout-source",
    "cutout-source-generation",
    "cutout-source-size",
    "cutout-source-digest",
    "cutout-options",
)


def options_digest(options: Mapping[str, Any], *, model: str, version: str | None = None) -> str:
    """A digest of everything that shapes an output: the remove options that matter (as
    plain JSON-able values), the model, and the cutout version when the caller counts a
    new version as a reason to redo work. Key order does not matter."""
    document = {"options": dict(options), "model": model, "version": version}
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"options must be JSON values: {exc}") from exc
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def options_record(options: RemoveOptions) -> dict[str, Any]:
    """Every field of ``options`` as plain JSON values, for :func:`options_digest`.

    Every field, read from the dataclass itself: each one shapes the output's bytes (that
    is what RemoveOptions is for), and a field added later is covered without a change
    here. Nested records keep their type's name (a colour and a blur background never
    look alike); an array (a background photo) is its shape, type and SHA-256. A value of
    a kind this does not know is a ``TypeError``, never silently left out.
    """
    return {field.name: _plain(getattr(options, field.name)) for field in fields(options)}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        record = {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
        return {"type": type(value).__name__, **record}
    if hasattr(value, "tobytes") and hasattr(value, "shape") and hasattr(value, "dtype"):
        data = value.tobytes()  # numpy: C order whatever the array's layout
        return {
            "shape": [int(side) for side in value.shape],
            "dtype": str(value.dtype),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    raise TypeError(f"cannot record an option value of type {type(value).__name__}")


@dataclass(frozen=True)
class Provenance:
    source: str
    generation: int
    size: int
    digest: str | None
    options: str

    @classmethod
    def of(cls, source: Item, options: str) -> Provenance:
        """The record for an output made from ``source`` (its digest is computed now if it
        is a local file) with options digest ``options``."""
        return cls(source.name, source.generation, source.size, source.digest, options)

    def to_metadata(self) -> dict[str, str]:
        metadata = {
            "cutout-source": self.source,
            "cutout-source-generation": str(self.generation),
            "cutout-source-size": str(self.size),
            "cutout-options": self.options,
        }
        if self.digest is not None:
            metadata["cutout-source-digest"] = self.digest
        return metadata

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str] | None) -> Provenance | None:
        """The record in ``metadata``, or ``None`` if it is missing or malformed."""
        if not metadata:
            return None
        try:
            return cls(
                source=metadata["cutout-source"],
                generation=int(metadata["cutout-source-generation"]),
                size=int(metadata["cutout-source-size"]),
                digest=metadata.get("cutout-source-digest") or None,
                options=metadata["cutout-options"],
            )
        except (KeyError, ValueError):
            return None


def is_current(output_meta: Mapping[str, str] | None, source: Item, options_digest: str) -> bool:
    """Whether an output with metadata ``output_meta`` was made from this version of
    ``source`` with these options (see the module docstring)."""
    record = Provenance.from_metadata(output_meta)
    if record is None or record.options != options_digest or record.size != source.size:
        return False
    if record.generation == source.generation:
        return True
    return record.digest is not None and record.digest == source.digest
