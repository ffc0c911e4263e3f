"""The weights cache: locations, digests, resolution order and the missing-weights message."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.errors import ChecksumError, WeightsMissingError
from cutout.models.registry import get_spec
from cutout.models.spec import ModelSpec, WeightsSource
from cutout.models.weights import (
    cache_dir,
    embedded_path,
    file_digest,
    resolve_weights,
    verify_file,
)


def test_the_cache_is_under_the_home_it_is_given(tmp_path: Path) -> None:
    # where home comes from (CUTOUT_HOME, its default): tests/test_settings.py
    assert cache_dir(tmp_path) == tmp_path / "weights"


def test_embedded_u2netp_matches_its_published_sha256() -> None:
    spec = get_spec("u2netp")
    path = embedded_path(spec)
    assert path.is_file()
    assert path.stat().st_size == spec.weights.size
    assert verify_file(spec, path) == spec.weights.sha256
    assert file_digest(path, "md5") == spec.weights.md5


def _spec_for(data: bytes, *, sha256: bool = True, md5: bool = True) -> ModelSpec:
    weights = WeightsSource(
        filename="w.bin",
        url="http://127.0.0.1:9/w.bin",
        sha256=hashlib.sha256(data).hexdigest() if sha256 else None,
        md5=hashlib.md5(data).hexdigest() if md5 else None,
    )
    return replace(get_spec("inspyrenet-fast"), name="test-model", weights=weights)


def test_verify_file_accepts_the_right_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    assert verify_file(_spec_for(b"weights"), path) == hashlib.sha256(b"weights").hexdigest()
    assert verify_file(_spec_for(b"weights", sha256=False), path)


@pytest.mark.parametrize("sha256", [True, False])
def test_verify_file_names_file_and_digests_on_mismatch(tmp_path: Path, sha256: bool) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"other")
    spec = _spec_for(b"weights", sha256=sha256)
    with pytest.raises(ChecksumError) as info:
        verify_file(spec, path)
    expected = spec.weights.sha256 if sha256 else spec.weights.md5
    assert str(path) in info.value.message
    assert str(expected) in info.value.message
    assert "test-model" in info.value.message


def test_resolution_order_override_then_embedded_then_cache(tmp_path: Path) -> None:
    override = tmp_path / "mine.onnx"
    override.write_bytes(b"x")
    u2netp = get_spec("u2netp")
    assert resolve_weights(u2netp, override, home=tmp_path).source == "user"
    assert resolve_weights(u2netp, home=tmp_path).source == "embedded"
    fast = get_spec("inspyrenet-fast")
    cached = cache_dir(tmp_path) / fast.weights.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    resolved = resolve_weights(fast, home=tmp_path)
    assert (resolved.path, resolved.source) == (cached, "cache")


def test_missing_override_is_named(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissingError, match=r"nope\.pth"):
        resolve_weights(get_spec("inspyrenet-fast"), tmp_path / "nope.pth", home=tmp_path)


def test_missing_weights_message_names_model_url_and_manual_step(tmp_path: Path) -> None:
    spec = get_spec("inspyrenet-base")
    with pytest.raises(WeightsMissingError) as info:
        resolve_weights(spec, home=tmp_path)
    message = info.value.message
    assert "inspyrenet-base" in message
    assert str(spec.weights.url) in message
    assert "cutout models pull inspyrenet-base" in message
    assert "--weights PATH" in message
    assert str(cache_dir(tmp_path) / spec.weights.filename) in message
