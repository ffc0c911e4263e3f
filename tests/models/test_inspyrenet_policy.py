"""The ``--quality`` policy and the InSPyReNet model records."""

from __future__ import annotations

import pytest

from cutout.errors import InvalidOptionError
from cutout.models.inspyrenet import choose_model_for_quality
from cutout.models.registry import get_spec


@pytest.mark.parametrize(
    ("quality", "device", "model"),
    [
        ("auto", "cuda", "inspyrenet-base"),
        ("auto", "cuda:1", "inspyrenet-base"),
        ("auto", "mps", "inspyrenet-base"),
        ("auto", "cpu", "inspyrenet-fast"),
        ("best", "cpu", "inspyrenet-base"),
        ("fast", "cuda", "inspyrenet-fast"),
    ],
)
def test_quality_policy(quality: str, device: str, model: str) -> None:
    chosen = choose_model_for_quality(quality, device)
    assert chosen == model
    assert get_spec(chosen).family == "inspyrenet"


def test_unknown_quality_is_an_option_error() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        choose_model_for_quality("ultra", "cpu")
    assert caught.value.code == "invalid_quality"


def test_records_match_the_reference_configuration() -> None:
    sizes = {name: get_spec(name).input_size for name in ("inspyrenet-base", "inspyrenet-fast")}
    assert sizes == {"inspyrenet-base": 1024, "inspyrenet-fast": 384}
    base = get_spec("inspyrenet-base")
    assert (base.resize, base.upsample, base.backend) == (
        "static",
        "bilinear_align_corners",
        "torch",
    )
    assert base.with_resize("dynamic").resize == "dynamic"
    assert get_spec("inspyrenet-base-nightly").weights.md5 is None
