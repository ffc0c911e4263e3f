"""The model registry: one list of names, frozen records, clear errors."""

from __future__ import annotations

import dataclasses
import re

import pytest

from cutout.errors import InvalidOptionError, UnknownModelError
from cutout.models.registry import ModelSpec, all_specs, get_spec, model_names, register


def test_default_model_first_and_names_unique() -> None:
    names = model_names()
    assert names[0] == "u2netp"
    assert len(set(names)) == len(names)
    assert [spec.name for spec in all_specs()] == list(names)


def test_records_are_frozen() -> None:
    spec = get_spec("u2netp")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.input_size = 1  # type: ignore[misc]
    fast = get_spec("inspyrenet-fast")
    assert fast.with_resize("dynamic").resize == "dynamic"
    assert fast.resize == "static"


def test_a_fixed_size_graph_refuses_dynamic_resize() -> None:
    spec = get_spec("u2netp")
    with pytest.raises(InvalidOptionError, match="fixed 320x320") as info:
        spec.with_resize("dynamic")
    assert info.value.code == "invalid_resize"
    assert spec.with_resize("static") == spec


@pytest.mark.parametrize("name", model_names())
def test_every_record_is_complete(name: str) -> None:
    spec = get_spec(name)
    assert spec.input_size > 0
    assert spec.licence
    assert spec.description
    assert spec.weights.filename
    assert spec.max_batch >= 1
    assert len(spec.mean) == len(spec.std) == 3
    if not spec.weights.embedded:
        # downloadable weights need somewhere to come from
        assert spec.weights.url is not None and spec.weights.url.startswith("https://")
    if spec.weights.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.weights.sha256)
    if spec.weights.md5 is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", spec.weights.md5)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_spec("u3net")
    assert "u3net" in info.value.message
    for name in model_names():
        assert name in info.value.message


def test_registering_a_name_twice_is_refused() -> None:
    spec: ModelSpec = get_spec("u2netp")
    with pytest.raises(ValueError, match="registered twice"):
        register(spec)
