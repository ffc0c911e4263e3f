"""The weights cache: where weights live, how they are verified, how they arrive.

Weights arrive only through an explicit step: ``cutout models pull`` (which calls
:func:`download`), a file baked into a container image, or a path given by the user
(``--weights`` / ``CUTOUT_WEIGHTS``). Nothing here runs at import, and constructors never
download.

Cache layout: ``<home>/weights/<filename>``, and the digest memo in ``<home>/digests/``
(:mod:`cutout.models.digests`: a file hashed once is not hashed again at every load while
it is unchanged). ``home`` is the caller's (:attr:`cutout.config.Settings.home`:
``CUTOUT_HOME``, by default the user's cache dir, e.g. ``~/.cache/cutout``); nothing here
reads the environment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cutout.errors import ChecksumError, WeightsMissingError
from cutout.models import digests
from cutout.models.spec import ModelSpec

__all__ = [
    "ResolvedWeights",
    "cache_dir",
    "check_digests",
    "embedded_path",
    "file_digest",
    "resolve_weights",
    "verify_file",
    "weights_sha256",
]

_CHUNK = 1 << 20


def cache_dir(home: Path) -> Path:
    """The weights cache under ``home``."""
    return home / "weights"


def embedded_path(spec: ModelSpec) -> Path:
    """The path of a weights file that ships inside the package."""
    ref = resources.files("cutout.models").joinpath("data", spec.weights.filename)
    return Path(str(ref))


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    spec: ModelSpec, path: Path, *, home: Path | None = None, fresh: bool = False
) -> str:
    """Check ``path`` against the spec's published digests; return its sha256.

    With ``home``, the digests come from the memo there when it knows the unchanged file,
    and a file hashed here is remembered; ``fresh`` hashes it regardless (``cutout models
    verify``, pulls) and refreshes the memo. Raises :class:`ChecksumError` naming the file,
    the expected and the actual digest.
    """
    use_md5 = bool(spec.weights.md5 and not spec.weights.sha256)
    algorithms = ("sha256", "md5") if use_md5 else ("sha256",)
    if fresh:
        before = digests.FileIdentity.of(path)
        found = digests.compute(path, algorithms)
        if home is not None:
            digests.remember(home, path, found, identity=before)
    else:
        found = digests.digests(path, algorithms, home=home)
    return check_digests(spec, path, found)


def check_digests(spec: ModelSpec, path: Path, found: dict[str, str]) -> str:
    """Compare ``found`` (sha256, and md5 where only an md5 is published) with the spec's
    digests; return the sha256."""
    sha256 = found["sha256"]
    expected_sha = spec.weights.sha256
    if expected_sha and sha256 != expected_sha:
        raise ChecksumError(
            f"{path}: sha256 {sha256} does not match {expected_sha} for model {spec.name}"
        )
    if spec.weights.md5 and not expected_sha:
        md5 = found["md5"]
        if md5 != spec.weights.md5:
            raise ChecksumError(
                f"{path}: md5 {md5} does not match {spec.weights.md5} for model {spec.name}"
            )
    return sha256


def weights_sha256(path: Path, *, home: Path | None = None) -> str:
    """The sha256 of a user's weights file (``--weights``): it identifies the file (and
    keys its exported graph) but is not checked against anything; memoised under ``home``."""
    return digests.digests(path, ("sha256",), home=home)["sha256"]


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    source: str  # "embedded" | "cache" | "user"
    verified: bool  # True when checked against the published digest


def resolve_weights(
    spec: ModelSpec, override: Path | None = None, *, home: Path
) -> ResolvedWeights:
    """Find the weights for ``spec`` without downloading anything.

    ``override`` (``--weights`` / ``CUTOUT_WEIGHTS``) wins; then the embedded file; then
    the cache. Missing weights raise :class:`WeightsMissingError` with the manual step.
    """
    if override is not None:
        if not override.is_file():
            raise WeightsMissingError(f"weights file {override} for model {spec.name} not found")
        return ResolvedWeights(override, "user", verified=False)
    if spec.weights.embedded:
        return ResolvedWeights(embedded_path(spec), "embedded", verified=True)
    cached = cache_dir(home) / spec.weights.filename
    if cached.is_file():
        return ResolvedWeights(cached, "cache", verified=True)
    raise WeightsMissingError(missing_message(spec, cached))


def missing_message(spec: ModelSpec, expected: Path) -> str:
    return (
        f"weights for model {spec.name} are not in the cache ({expected}). "
        f"Run `cutout models pull {spec.name}` (downloads {spec.weights.url}), "
        f"or download that URL yourself and pass it with --weights PATH "
        f"(or CUTOUT_WEIGHTS=PATH), or copy it to {expected}."
    )
