"""Layout invariants (property-based): output size, subject inside the output, exact boxes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout.imaging.compose import compose, foreground_box
from cutout.imaging.geometry import Layout, cap_margin, plan_layout, warp
from cutout.options import MARGIN_CAP_PX, Margin, RemoveOptions


@st.composite
def photos_and_subjects(draw: st.DrawFn) -> tuple[int, int, tuple[int, int, int, int]]:
    width = draw(st.integers(1, 4000))
    height = draw(st.integers(1, 4000))
    left = draw(st.integers(0, width - 1))
    top = draw(st.integers(0, height - 1))
    box_width = draw(st.integers(1, width - left))
    box_height = draw(st.integers(1, height - top))
    return width, height, (left, top, box_width, box_height)


positions = st.one_of(
    st.none(),
    st.just("original"),
    st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
margins = st.builds(
    Margin,
    st.floats(0, 800),
    st.floats(0, 800),
    st.floats(0, 800),
    st.floats(0, 800),
    percent=st.booleans(),
)
options = st.builds(
    RemoveOptions,
    crop=st.booleans(),
    margin=margins,
    canvas=st.one_of(st.none(), st.tuples(st.integers(8, 5000), st.integers(8, 5000))),
    fill=st.floats(0.05, 1.0),
    scale=st.one_of(st.none(), st.floats(0.1, 1.0)),
    position=positions,
)


def _inside(layout: Layout) -> None:
    left, top, width, height = layout.subject
    assert width >= 1 and height >= 1
    assert left >= 0 and left + width <= layout.width
    assert top >= 0 and top + height <= layout.height


@settings(max_examples=400, deadline=None)
@given(photos_and_subjects(), options)
def test_layout_invariants(
    photo: tuple[int, int, tuple[int, int, int, int]], choice: RemoveOptions
) -> None:
    image_width, image_height, subject = photo
    layout = plan_layout(image_width, image_height, subject, choice)
    _inside(layout)
    left, top, box_width, box_height = subject
    # output size
    if choice.canvas is not None:
        assert (layout.width, layout.height) == choice.canvas
    elif choice.crop:
        caps = cap_margin(choice.margin, box_width, box_height)
        assert all(0 <= cap <= MARGIN_CAP_PX for cap in caps)
        assert caps[0] <= box_height / 2 and caps[1] <= box_width / 2
        assert layout.width == box_width + caps[1] + caps[3]
        assert layout.height == box_height + caps[0] + caps[2]
    else:
        assert (layout.width, layout.height) == (image_width, image_height)
    # subject size: the limiting side is the requested fraction of the output's
    target = (
        choice.scale
        if choice.scale is not None
        else (choice.fill if choice.canvas is not None else None)
    )
    if target is None:
        assert layout.scale == 1.0
        assert layout.subject[2:] == (box_width, box_height)
    else:
        fits_width = layout.subject[2] / layout.width
        fits_height = layout.subject[3] / layout.height
        limiting = max(fits_width, fits_height)
        assert abs(limiting - target) <= 1.0 / min(layout.width, layout.height) + 1e-9 or (
            # a 1 px subject cannot be smaller
            min(layout.subject[2:]) == 1
        )
    # the transform maps the source box onto the reported box
    assert abs(left * layout.scale + layout.left - layout.subject[0]) < 1e-6
    assert abs(top * layout.scale + layout.top - layout.subject[1]) < 1e-6
    # positions are fractions of the free space
    if isinstance(choice.position, tuple):
        free_x = layout.width - layout.subject[2]
        assert abs(layout.subject[0] - choice.position[0] * free_x) <= 0.5 + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.integers(4, 60),
    st.integers(4, 60),
    st.data(),
    st.one_of(st.none(), st.tuples(st.integers(8, 90), st.integers(8, 90))),
    st.booleans(),
    st.one_of(st.none(), st.floats(0.1, 1.0)),
    st.booleans(),
)
def test_composed_box_lies_inside_the_image(
    width: int,
    height: int,
    data: st.DataObject,
    canvas: tuple[int, int] | None,
    crop: bool,
    scale: float | None,
    mask: bool,
) -> None:
    left = data.draw(st.integers(0, width - 1))
    top = data.draw(st.integers(0, height - 1))
    right = data.draw(st.integers(left + 1, width))
    bottom = data.draw(st.integers(top + 1, height))
    rows, cols = bottom - top, right - left
    matte = np.zeros((height, width), np.float32)
    matte[top:bottom, left:right] = 1.0
    rgb = np.full((height, width, 3), 90, np.uint8)
    choice = RemoveOptions(
        canvas=canvas, crop=crop, scale=scale, mask=mask, margin=Margin(3, 3, 3, 3)
    )
    out = compose(rgb, matte, choice)
    out_height, out_width = out.pixels.shape[:2]
    if canvas is not None:
        assert (out_width, out_height) == canvas
    box = out.foreground
    assert box is not None
    assert box.left >= 0 and box.left + box.width <= out_width
    assert box.top >= 0 and box.top + box.height <= out_height
    assert out.alpha.shape == (out_height, out_width)
    # the pixels agree with the box, up to the resampling filter's reach (about two
    # source pixels); a subject a few pixels wide, before or after scaling, may fade below
    # the box's alpha level
    measured = foreground_box(out.alpha)
    if min(rows, cols) >= 4 and min(box.width, box.height) >= 3:
        assert measured is not None
        reach = 2 + 2 * max(box.width / cols, box.height / rows)
        assert abs(measured.left - box.left) <= reach and abs(measured.top - box.top) <= reach
        right_gap = measured.left + measured.width - (box.left + box.width)
        bottom_gap = measured.top + measured.height - (box.top + box.height)
        assert abs(right_gap) <= reach and abs(bottom_gap) <= reach


def test_margin_cap_values() -> None:
    assert cap_margin(Margin(1000, 1000, 1000, 1000), 4000, 3000) == (500, 500, 500, 500)
    assert cap_margin(Margin(80, 80, 80, 80), 100, 60) == (30, 50, 30, 50)
    assert cap_margin(Margin(10, 20, 30, 40, percent=True), 200, 100) == (10, 40, 30, 80)


@pytest.mark.parametrize("channels", [(), (3,), (4,)])
def test_warp_at_scale_one_is_exact_slicing(channels: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, *channels), dtype=np.uint8)
    layout = Layout(width=40, height=25, scale=1.0, left=-5.0, top=3.0, subject=(0, 0, 1, 1))
    out = warp(pixels, layout)
    assert out.shape == (25, 40, *channels)
    np.testing.assert_array_equal(out[3:23, 0:25], pixels[:, 5:30])
    assert not out[:3].any() and not out[23:].any() and not out[:, 25:].any()


def test_warp_scaled_keeps_premultiplied_edges_clean() -> None:
    # opaque red next to transparent green: downscaling must not tint the edge green
    pixels = np.zeros((40, 40, 4), np.uint8)
    pixels[:, :20] = (255, 0, 0, 255)
    pixels[:, 20:] = (0, 255, 0, 0)
    layout = Layout(width=15, height=15, scale=1 / 3, left=0.5, top=0.5, subject=(0, 0, 1, 1))
    out = warp(pixels, layout)
    edge = out[5, 6:9]
    visible = edge[edge[:, 3] > 10]
    assert visible.size > 0
    assert visible[:, 1].max() <= 2
