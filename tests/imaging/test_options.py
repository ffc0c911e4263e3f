"""The string forms of every option (CLI flags, HTTP parameters) and their error codes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutout.arrays import ByteArray
from cutout.errors import DecodeError, InvalidOptionError
from cutout.options import (
    DEFAULT_EDGES,
    EDGE_LEVELS,
    FILL,
    MARGIN_CAP_PERCENT,
    MARGIN_CAP_PX,
    QUALITY,
    SCALE,
    BlurBackground,
    ColorBackground,
    ImageBackground,
    Margin,
    Range,
    RemoveOptions,
    Roi,
    check_margin_cap,
    is_transparent,
    parse_background,
    parse_canvas,
    parse_edges,
    parse_fill,
    parse_format,
    parse_margin,
    parse_position,
    parse_quality,
    parse_roi,
    parse_scale,
    parse_threshold,
    resolve_format,
)

PHOTO = np.full((4, 6, 3), 7, np.uint8)


def _load(path: str) -> ByteArray:
    if path == "bg/photo.jpg":
        return PHOTO
    if path == "broken.png":
        raise DecodeError("not an image")
    raise FileNotFoundError(path)


def _code(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(InvalidOptionError) as caught:
        call(*args)
    return caught.value.code


# -- background -------------------------------------------------------------------------
def test_background_blur_colour_and_image() -> None:
    assert parse_background("blur", load_image=_load) == BlurBackground()
    assert parse_background("BLUR:35.5", load_image=_load) == BlurBackground(35.5)
    assert parse_background("#ff000080", load_image=_load) == ColorBackground((255, 0, 0, 128))
    assert parse_background("navy", load_image=_load) == ColorBackground((0, 0, 128, 255))
    image = parse_background("bg/photo.jpg", load_image=_load)
    assert isinstance(image, ImageBackground)
    assert image.rgb is PHOTO


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("blur:0", "invalid_bg_blur"),
        ("blur:-3", "invalid_bg_blur"),
        ("blur:soft", "invalid_bg_blur"),
        ("chartreuse-ish", "invalid_bg_color"),
        ("", "invalid_bg_color"),
        ("missing.jpg", "invalid_bg_image"),
        ("broken.png", "invalid_bg_image"),
    ],
)
def test_background_errors(text: str, code: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_background(text, load_image=_load)
    assert caught.value.code == code
    assert text in caught.value.message


def test_background_image_error_keeps_its_cause() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_background("broken.png", load_image=_load)
    assert isinstance(caught.value.__cause__, DecodeError)


# -- margin, canvas, fill, threshold ----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", Margin(20, 20, 20, 20)),
        ("30px", Margin(30, 30, 30, 30)),
        ("10%", Margin(10, 10, 10, 10, percent=True)),
        ("10 20", Margin(10, 20, 10, 20)),
        ("1, 2, 3, 4", Margin(1, 2, 3, 4)),
        ("5% 0% 5% 0%", Margin(5, 0, 5, 0, percent=True)),
    ],
)
def test_margin_forms(text: str, expected: Margin) -> None:
    assert parse_margin(text) == expected


@pytest.mark.parametrize("text", ["", "1 2 3", "10 10%", "-5", "ten", "1 2 3 4 5"])
def test_margin_errors(text: str) -> None:
    assert _code(parse_margin, text) == "invalid_crop_margin"


def test_margin_pixels_of_percent() -> None:
    assert Margin(10, 20, 30, 40, percent=True).pixels(200, 100) == (10, 40, 30, 80)


def test_canvas_fill_threshold() -> None:
    assert parse_canvas("2000x1500") == (2000, 1500)
    assert parse_canvas(" 800 X 800 ") == (800, 800)
    assert parse_fill("0.8") == pytest.approx(0.8)
    assert parse_fill("65%") == pytest.approx(0.65)
    assert parse_threshold("0.5") == pytest.approx(0.5)
    assert parse_threshold("25%") == pytest.approx(0.25)
    for text in ("2000", "0x10", "20000x20", "axb"):
        assert _code(parse_canvas, text) == "invalid_canvas"
    for text in ("0", "1.5", "120%", "full"):
        assert _code(parse_fill, text) == "invalid_fill"
    for text in ("2", "150%", "-0.1", "half"):
        assert _code(parse_threshold, text) == "invalid_threshold"


def test_quality() -> None:
    assert parse_quality("85") == 85
    assert parse_quality(" 90.4 ") == 90
    assert parse_quality("100") == 100
    # the range is checked before rounding: 100.4 is over 100
    for text in ("0", "0.4", "100.4", "101", "best", ""):
        assert _code(parse_quality, text) == "invalid_quality"


# -- ranges: one record per option, used by the parsers and RemoveOptions alike ---------------
def test_range_bounds_and_messages() -> None:
    assert 0.05 in FILL and 1.0 in FILL and 0.04 not in FILL
    assert str(SCALE) == "between 10% and 100%"
    assert str(QUALITY) == "between 1 and 100"
    radius = Range(0.0, 500.0, "invalid_bg_blur", unit=" px", low_open=True)
    assert 0.0 not in radius and 500.0 in radius
    assert str(radius) == "above 0 px and at most 500 px"
    with pytest.raises(InvalidOptionError) as caught:
        FILL.check(2.0, "fill '200%':")
    assert caught.value.code == "invalid_fill"
    assert caught.value.message == "fill '200%': must be between 0.05 and 1"


@pytest.mark.parametrize(
    ("parse", "text", "field"),
    [
        (parse_fill, "4%", "fill"),
        (parse_threshold, "101%", "threshold"),
        (parse_scale, "9%", "scale"),
        (parse_quality, "0", "quality"),
        (parse_edges, "bogus", "edges"),
    ],
)
def test_a_parser_and_remove_options_refuse_with_the_same_code(
    parse: object, text: str, field: str
) -> None:
    assert callable(parse)
    code = _code(parse, text)
    kwargs = {"fill": 0.04, "threshold": 1.01, "scale": 0.09, "quality": 0, "edges": "bogus"}
    with pytest.raises(InvalidOptionError) as caught:
        RemoveOptions(**{field: kwargs[field]})  # type: ignore[arg-type]
    assert caught.value.code == code == f"invalid_{field}"


def test_margin_cap() -> None:
    assert check_margin_cap(Margin(500, 0, 0, 0), "m") == Margin(500, 0, 0, 0)
    assert check_margin_cap(Margin(50, 50, 50, 50, percent=True), "m").percent
    px = Margin(MARGIN_CAP_PX + 1, 0, 0, 0)
    percent = Margin(0, 0, 0, MARGIN_CAP_PERCENT + 1, percent=True)
    assert _code(check_margin_cap, px, "crop_margin") == "invalid_crop_margin"
    assert _code(check_margin_cap, percent, "crop_margin") == "invalid_crop_margin"


# -- output format: parsed once, auto resolved once ------------------------------------------
def test_format_choices() -> None:
    assert parse_format("PNG") == "png"
    assert parse_format(" jpeg ") == "jpg"
    assert parse_format("auto") == "auto"
    for text in ("gif", "", "jp g"):
        assert _code(parse_format, text) == "invalid_format"


@pytest.mark.parametrize(
    ("background", "mask", "expected"),
    [
        (None, False, "png"),  # a cut-out: transparent
        (ColorBackground((255, 0, 0, 128)), False, "png"),  # a see-through colour
        (ColorBackground((255, 0, 0, 255)), False, "jpg"),
        (BlurBackground(), False, "jpg"),
        (ImageBackground(PHOTO), False, "jpg"),
        (None, True, "jpg"),  # the grey matte has no transparency
    ],
)
def test_auto_format_follows_transparency(
    background: ColorBackground | BlurBackground | ImageBackground | None,
    mask: bool,
    expected: str,
) -> None:
    assert is_transparent(background, mask=mask) == (expected == "png")
    assert resolve_format("auto", background=background, mask=mask) == expected
    assert resolve_format("webp", background=background, mask=mask) == "webp"


# -- remove.bg scale, position, roi -------------------------------------------------------------
def test_scale() -> None:
    assert parse_scale("original") is None
    assert parse_scale("10%") == pytest.approx(0.1)
    assert parse_scale("100%") == pytest.approx(1.0)
    assert parse_scale("55.5%") == pytest.approx(0.555)
    for text in ("5%", "101%", "0.5", "50", "big"):
        assert _code(parse_scale, text) == "invalid_scale"


def test_position() -> None:
    assert parse_position("original") == "original"
    assert parse_position("center") == (0.5, 0.5)
    assert parse_position("0%") == (0.0, 0.0)
    assert parse_position("25% 100%") == (0.25, 1.0)
    for text in ("", "left", "120%", "10% 20% 30%", "10 20", "50% top"):
        assert _code(parse_position, text) == "invalid_position"


def test_roi_parsing_and_resolution() -> None:
    roi = parse_roi("0% 10% 50% 100%")
    assert roi == Roi(0, 10, 50, 100, percent=(True, True, True, True))
    assert roi.pixels(200, 100) == (0, 10, 100, 100)
    mixed = parse_roi("10px 20 50% 40")
    assert mixed.pixels(400, 300) == (10, 20, 200, 40)
    assert _code(parse_roi, "1 2 3") == "invalid_roi"
    assert _code(parse_roi, "a b c d") == "invalid_roi"
    assert _code(parse_roi, "10 10 5 20") == "roi_region_empty"
    assert _code(parse_roi, "0% 0% 150% 100%") == "roi_exceeds_bounds"
    assert _code(Roi(0, 0, 500, 10).pixels, 400, 300) == "roi_exceeds_bounds"
    assert _code(Roi(50, 0, 10, 10, percent=(True, False, False, False)).pixels, 100, 100) == (
        "roi_region_empty"
    )


def test_edge_levels() -> None:
    assert RemoveOptions().edges == DEFAULT_EDGES
    assert DEFAULT_EDGES in EDGE_LEVELS
    assert [parse_edges(f" {level.upper()} ") for level in EDGE_LEVELS] == list(EDGE_LEVELS)


# -- RemoveOptions validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"format": "gif"}, "invalid_format"),
        ({"threshold": 1.5}, "invalid_threshold"),
        ({"fill": 0.0}, "invalid_fill"),
        ({"scale": 0.05}, "invalid_scale"),
        ({"quality": 0}, "invalid_quality"),
        ({"canvas": (4, 4000)}, "invalid_canvas"),
        ({"position": (0.5, 1.5)}, "invalid_position"),
        ({"edges": "finest"}, "invalid_edges"),
    ],
)
def test_remove_options_rejects_out_of_range(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        RemoveOptions(**kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


# -- round trips (property-based) -------------------------------------------------------------
percent_values = st.integers(0, 100)


@given(st.integers(10, 100))
def test_scale_round_trip(percent: int) -> None:
    assert parse_scale(f"{percent}%") == pytest.approx(percent / 100)


@given(percent_values, percent_values)
def test_position_round_trip(x: int, y: int) -> None:
    assert parse_position(f"{x}% {y}%") == pytest.approx((x / 100, y / 100))


@given(
    st.lists(st.integers(0, 5000), min_size=4, max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_roi_round_trip_or_clear_error(values: list[int], percent: list[bool]) -> None:
    text = " ".join(
        f"{min(v, 100)}%" if is_pct else f"{v}px" for v, is_pct in zip(values, percent, strict=True)
    )
    try:
        roi = parse_roi(text)
        x1, y1, x2, y2 = roi.pixels(2000, 1000)
    except InvalidOptionError as error:
        assert error.code in ("roi_region_empty", "roi_exceeds_bounds")
        return
    assert 0 <= x1 < x2 <= 2000 and 0 <= y1 < y2 <= 1000


@given(st.lists(st.integers(0, 900), min_size=1, max_size=4).filter(lambda v: len(v) != 3))
def test_margin_round_trip(values: list[int]) -> None:
    margin = parse_margin(" ".join(f"{v}px" for v in values))
    expanded = {1: values * 4, 2: values * 2, 4: values}[len(values)]
    assert (margin.top, margin.right, margin.bottom, margin.left) == tuple(map(float, expanded))
    assert not margin.percent
