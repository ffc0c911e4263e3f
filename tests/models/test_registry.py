"""The model registry: one list of names, frozen records, clear errors."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import textwrap

import pytest

from cutout.errors import InvalidOptionError, UnknownModelError
from cutout.models import registry
from cutout.models.registry import all_specs, get_spec, model_names, register
from cutout.models.spec import ModelSpec
from tests.conftest import REPO


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


def test_registering_before_any_lookup_keeps_every_builtin_model() -> None:
    # a fresh interpreter: the registry has seen no lookup yet when the custom model joins
    script = textwrap.dedent(
        """
        from dataclasses import replace
        from cutout.models import registry
        from cutout.models.u2netp import U2NETP
        registry.register(replace(U2NETP, name="custom"))
        print(",".join(registry.model_names()))
        print(registry.get_spec("inspyrenet-fast").name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    names, found = done.stdout.split()
    builtin = [spec.name for spec in registry.BUILTIN_SPECS]
    assert names.split(",") == [*builtin, "custom"]
    assert found == "inspyrenet-fast"


def test_the_builtin_records_are_the_registry_at_import() -> None:
    assert model_names()[: len(registry.BUILTIN_SPECS)] == tuple(
        spec.name for spec in registry.BUILTIN_SPECS
    )
    assert {spec.family for spec in registry.BUILTIN_SPECS} == {"u2net", "inspyrenet"}
