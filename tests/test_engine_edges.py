"""The engine's edge stage: its place among the stages, the confidence score, the level
option, and an input's own transparency kept through every output mode."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

import cutout.engine
from cutout.engine import STAGES, Engine
from cutout.imaging.decode import decode
from cutout.imaging.edges import Edges
from cutout.options import DEFAULT_EDGES, ColorBackground, RemoveOptions
from tests.transparent import PHOTO, half_transparent_png, transparent_columns


def _image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_the_edge_stage_runs_between_postprocess_and_compose(fake_engine: Engine) -> None:
    assert STAGES.index("postprocess") + 1 == STAGES.index("edges") == STAGES.index("compose") - 1
    result = fake_engine.remove(PHOTO)
    assert "edges" in result.timings
    assert fake_engine.stats.stage_seconds["edges"] == result.timings["edges"]
    assert result.edges == DEFAULT_EDGES
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize(
    ("options", "colours"),
    [
        (RemoveOptions(), True),
        (RemoveOptions(background=ColorBackground((0, 0, 0, 255))), True),
        (RemoveOptions(mask=True), False),  # a mask has no colours
        (RemoveOptions(invert=True), False),  # the visible layer is the background
        (RemoveOptions(edges="best"), True),
    ],
)
def test_the_engine_asks_the_edge_stage_for_what_the_output_needs(
    fake_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    options: RemoveOptions,
    colours: bool,
) -> None:
    calls: list[dict[str, Any]] = []
    real = cutout.engine.refine_edges

    def spy(*args: Any, **kwargs: Any) -> Edges:
        calls.append({"level": args[2], **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(cutout.engine, "refine_edges", spy)
    data = half_transparent_png()
    fake_engine.remove(data, options)
    (call,) = calls
    assert call["level"] == options.edges
    assert call["colours"] is colours
    assert np.array_equal(call["keep"], decode(data).alpha)


def test_an_opaque_input_has_nothing_to_keep(
    fake_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[object] = []
    real = cutout.engine.refine_edges

    def spy(*args: Any, **kwargs: Any) -> Edges:
        kept.append(kwargs["keep"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cutout.engine, "refine_edges", spy)
    fake_engine.remove(PHOTO)
    assert kept == [None]


def test_levels_change_the_real_models_alpha(u2netp_engine: Engine) -> None:
    """``off`` is the model's matte as it is; a refining level changes the soft edge and
    reports its own confidence."""
    image = decode(PHOTO)
    raw = u2netp_engine.matte(image)
    off = u2netp_engine.remove(image, RemoveOptions(mask=True, edges="off"))
    best = u2netp_engine.remove(image, RemoveOptions(mask=True, edges="best"))
    off_alpha, best_alpha = _image(off.data), _image(best.data)
    assert np.abs(off_alpha.astype(int) - np.round(raw * 255)).max() <= 1
    changed = np.abs(best_alpha.astype(int) - off_alpha) > 8
    assert changed.sum() > 1000  # the edge moved...
    far = (raw < 0.001) | (raw > 0.999)
    assert changed[far].mean() < 0.02  # ...and little else did
    assert off.edges == "off" and best.edges == "best"
    assert 0.0 <= off.confidence <= 1.0 and 0.0 <= best.confidence <= 1.0


@pytest.mark.parametrize(
    "options",
    [
        RemoveOptions(),
        RemoveOptions(edges="off"),
        RemoveOptions(mask=True),
        RemoveOptions(invert=True),
        RemoveOptions(threshold=0.0),
        RemoveOptions(crop=False, format="webp"),
    ],
    ids=["cut-out", "edges-off", "mask", "invert", "threshold-0", "webp"],
)
def test_a_transparent_half_stays_transparent(
    u2netp_engine: Engine, options: RemoveOptions
) -> None:
    data = half_transparent_png()
    result = u2netp_engine.remove(data, options)
    pixels = _image(result.data)
    alpha = pixels if pixels.ndim == 2 else pixels[..., 3]
    hidden = transparent_columns(result.width)
    assert (alpha[:, :hidden] == 0).all()
    # the subject (a tiger across the middle) is still there on the other side
    assert alpha[:, hidden:].max() == 255


def test_a_transparent_half_shows_the_new_background(u2netp_engine: Engine) -> None:
    data = half_transparent_png()
    options = RemoveOptions(background=ColorBackground((0, 0, 255, 255)), format="png")
    pixels = _image(u2netp_engine.remove(data, options).data)
    assert pixels.shape[2] == 3
    hidden = transparent_columns(pixels.shape[1])
    assert (pixels[:, :hidden] == (0, 0, 255)).all()
    # the subject shows on the other side
    assert (pixels[:, hidden:] != (0, 0, 255)).any(axis=2).mean() > 0.1


def test_without_the_inputs_alpha_the_model_finds_the_subject_there(
    u2netp_engine: Engine,
) -> None:
    """The control for the tests above: the same colours without the alpha channel give an
    opaque subject in the left half, so only the kept alpha can have made it transparent."""
    pixels = _image(u2netp_engine.remove(PHOTO, RemoveOptions(mask=True)).data)
    assert (pixels[:, : transparent_columns(pixels.shape[1])] == 255).any()
