"""compose(): every output mode on a synthetic photo whose true matte is known."""

from __future__ import annotations

import numpy as np
import pytest

from cutout.arrays import ByteArray, FloatArray
from cutout.errors import InvalidOptionError, NoForegroundError
from cutout.imaging.compose import Box, adjust_matte, compose, foreground_box
from cutout.imaging.foreground import refine_foreground
from cutout.options import (
    BlurBackground,
    ColorBackground,
    ImageBackground,
    Margin,
    RemoveOptions,
    Roi,
)

SUBJECT = (200, 40, 40)
HEIGHT, WIDTH = 120, 160
# the subject's solid box: rows 30..89, cols 50..109
TOP, LEFT, SIDE = 30, 50, 60


def _photo() -> tuple[ByteArray, FloatArray]:
    _rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    # a striped green background: blurring it visibly lowers its contrast
    background = np.stack(
        [20 + 0 * cols, 120 + 100 * ((cols // 4) % 2), 40 + 0 * cols], axis=2
    ).astype(np.float32)
    matte = np.zeros((HEIGHT, WIDTH), np.float32)
    matte[TOP : TOP + SIDE, LEFT : LEFT + SIDE] = 1.0
    # a soft one-pixel rim around it
    matte[TOP - 1, LEFT : LEFT + SIDE] = 0.5
    image = matte[..., None] * np.asarray(SUBJECT, np.float32) + (1 - matte[..., None]) * background
    return (image + 0.5).astype(np.uint8), matte


@pytest.fixture
def photo() -> tuple[ByteArray, FloatArray]:
    return _photo()


def test_default_is_rgba_cut_out(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions())
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(out.pixels[..., :3], rgb)
    assert out.pixels[0, 0, 3] == 0
    assert out.pixels[TOP + 5, LEFT + 5, 3] == 255
    assert out.pixels[TOP - 1, LEFT + 5, 3] == 128
    assert out.foreground == Box(top=TOP - 1, left=LEFT, width=SIDE, height=SIDE + 1)
    np.testing.assert_array_equal(out.alpha, out.pixels[..., 3])


def test_mask_only(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(mask=True))
    assert out.mode == "L"
    assert out.pixels.shape == (HEIGHT, WIDTH)
    assert out.pixels[TOP + 1, LEFT + 1] == 255
    assert out.pixels[5, 5] == 0


def test_threshold_and_invert(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    hard = compose(rgb, matte, RemoveOptions(mask=True, threshold=0.6)).pixels
    assert set(np.unique(hard)) == {0, 255}
    assert hard[TOP - 1, LEFT + 5] == 0
    inverted = compose(rgb, matte, RemoveOptions(mask=True, invert=True)).pixels
    assert inverted[5, 5] == 255
    assert inverted[TOP + 1, LEFT + 1] == 0
    assert inverted[TOP - 1, LEFT + 5] == 128


def test_roi_clears_everything_outside(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    # left half of the image, in %
    roi = Roi(0, 0, 50, 100, percent=(True, True, True, True))
    out = compose(rgb, matte, RemoveOptions(roi=roi))
    assert out.pixels[TOP + 5, 85, 3] == 0
    assert out.pixels[TOP + 5, 75, 3] == 255
    assert out.foreground == Box(top=TOP - 1, left=LEFT, width=80 - LEFT, height=SIDE + 1)
    # px tuples work too, and roi applies after invert: nothing outside is foreground
    inverted = adjust_matte(matte, RemoveOptions(roi=(0, 0, 10, 10), invert=True))
    assert inverted[:10, :10].min() == 1.0
    assert inverted[10:, :].max() == 0.0 and inverted[:, 10:].max() == 0.0


def test_roi_outside_the_image_is_refused(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    with pytest.raises(InvalidOptionError) as caught:
        compose(rgb, matte, RemoveOptions(roi=(0, 0, WIDTH + 1, 10)))
    assert caught.value.code == "roi_exceeds_bounds"


def test_require_foreground(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, _ = photo
    empty = np.full((HEIGHT, WIDTH), 0.05, np.float32)
    with pytest.raises(NoForegroundError) as caught:
        compose(rgb, empty, RemoveOptions(require_foreground=True))
    assert caught.value.code == "unknown_foreground"
    # without the flag an empty matte gives an empty cut-out and no box
    out = compose(rgb, empty, RemoveOptions(crop=True))
    assert out.foreground is None
    assert out.pixels.shape == (HEIGHT, WIDTH, 4)


def test_solid_colour_background(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(background=ColorBackground((0, 0, 255, 255))))
    assert out.mode == "RGB"
    assert tuple(out.pixels[5, 5]) == (0, 0, 255)
    assert tuple(out.pixels[TOP + 5, LEFT + 5]) == SUBJECT
    rim = out.pixels[TOP - 1, LEFT + 5].astype(int)
    expected = np.round(0.50196 * rgb[TOP - 1, LEFT + 5] + 0.49804 * np.array([0, 0, 255]))
    np.testing.assert_allclose(rim, expected, atol=1)


def test_translucent_colour_background(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(background=ColorBackground((255, 0, 0, 128))))
    assert out.mode == "RGBA"
    assert tuple(out.pixels[5, 5]) == (255, 0, 0, 128)
    assert tuple(out.pixels[TOP + 5, LEFT + 5]) == (*SUBJECT, 255)
    # the rim: alpha 0.5 over 0.5-opaque red gives 0.75 coverage
    assert abs(int(out.pixels[TOP - 1, LEFT + 5, 3]) - 192) <= 1


def test_image_background_is_cover_fitted(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    # a tall 2:1 picture, top half yellow, middle band cyan, bottom magenta
    picture = np.zeros((400, 100, 3), np.uint8)
    picture[:150] = (255, 255, 0)
    picture[150:250] = (0, 255, 255)
    picture[250:] = (255, 0, 255)
    out = compose(rgb, matte, RemoveOptions(background=ImageBackground(picture)))
    assert out.pixels.shape == (HEIGHT, WIDTH, 3)
    # cover: scaled to 160 wide (640 tall), centre 120 rows = the cyan band only
    assert tuple(out.pixels[2, 2]) == (0, 255, 255)
    assert tuple(out.pixels[HEIGHT - 3, WIDTH - 3]) == (0, 255, 255)
    assert tuple(out.pixels[TOP + 5, LEFT + 5]) == SUBJECT


def test_blurred_background_keeps_the_subject_sharp(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(background=BlurBackground(radius=40)))
    assert out.mode == "RGB"
    np.testing.assert_array_equal(
        out.pixels[TOP : TOP + SIDE, LEFT : LEFT + SIDE], rgb[TOP : TOP + SIDE, LEFT : LEFT + SIDE]
    )
    stripes = rgb[100:118, :, 1].astype(float)
    blurred = out.pixels[100:118, :, 1].astype(float)
    assert blurred.std() < 0.2 * stripes.std()
    # the subject's red does not bleed into the blurred background around it
    ring = out.pixels[TOP + 10 : TOP + 50, LEFT - 6 : LEFT - 2, 0].astype(float)
    assert ring.max() < 40


def test_crop_with_margin_and_box_in_output_coordinates(
    photo: tuple[ByteArray, FloatArray],
) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(crop=True, margin=Margin(5, 10, 5, 10)))
    assert out.pixels.shape == (SIDE + 1 + 10, SIDE + 20, 4)
    assert out.foreground == Box(top=5, left=10, width=SIDE, height=SIDE + 1)
    np.testing.assert_array_equal(
        out.pixels[6:-5, 10:-10, :3], rgb[TOP : TOP + SIDE, LEFT : LEFT + SIDE]
    )


def test_crop_margin_is_capped_like_remove_bg(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(
        rgb, matte, RemoveOptions(crop=True, margin=Margin(200, 200, 200, 200, percent=True))
    )
    # at most 50% of the subject's side on each side
    assert out.pixels.shape == (SIDE + 1 + 2 * 30, SIDE + 2 * 30, 4)
    # the margin reaches past the photo's edge on the left: transparent there
    wide = compose(rgb, matte, RemoveOptions(crop=True, margin=Margin(0, 0, 0, 30)))
    assert wide.pixels.shape[1] == SIDE + 30


def test_canvas_centres_the_subject_at_the_fill(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(canvas=(400, 300), fill=0.5))
    assert out.pixels.shape == (300, 400, 4)
    box = out.foreground
    assert box is not None
    # limiting side: height 61 -> 150 px
    assert box.height == 150
    assert abs(box.top - 75) <= 1
    assert abs((box.left + box.width / 2) - 200) <= 1
    # the pixels agree with the reported box
    measured = foreground_box(out.alpha)
    assert measured is not None
    assert abs(measured.top - box.top) <= 2 and abs(measured.height - box.height) <= 3
    assert out.pixels[5, 5, 3] == 0


def test_canvas_on_a_colour(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(
        rgb,
        matte,
        RemoveOptions(canvas=(200, 200), background=ColorBackground((255, 255, 255, 255))),
    )
    assert out.mode == "RGB"
    assert tuple(out.pixels[2, 2]) == (255, 255, 255)
    assert tuple(out.pixels[100, 100]) == SUBJECT


def test_scale_and_position(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(scale=0.5, position=(0.0, 1.0)))
    assert out.pixels.shape == (HEIGHT, WIDTH, 4)
    assert out.foreground == Box(top=HEIGHT - 60, left=0, width=round(SIDE * 60 / 61), height=60)
    centred = compose(rgb, matte, RemoveOptions(scale=0.5))
    assert centred.foreground is not None
    assert centred.foreground.top == 30
    moved = compose(rgb, matte, RemoveOptions(position=(1.0, 0.0)))
    assert moved.foreground == Box(top=0, left=WIDTH - SIDE, width=SIDE, height=SIDE + 1)
    assert tuple(moved.pixels[10, WIDTH - 10, :3]) == SUBJECT


def test_shadow_on_transparent_output(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    plain = compose(rgb, matte, RemoveOptions())
    out = compose(rgb, matte, RemoveOptions(shadow=True))
    assert out.mode == "RGBA"
    below = out.pixels[TOP + SIDE : TOP + SIDE + 2, LEFT + 10 : LEFT + SIDE - 10]
    # semi-transparent, dark pixels just under the subject
    assert 20 < below[..., 3].mean() < 200
    assert below[..., :3].max() < 30
    assert plain.pixels[TOP + SIDE : TOP + SIDE + 2, LEFT + 10 : LEFT + SIDE - 10, 3].max() == 0
    # the subject itself is untouched, far pixels stay clear
    np.testing.assert_array_equal(out.pixels[TOP + 5, LEFT + 5], (*SUBJECT, 255))
    assert out.pixels[2, 2, 3] == 0
    np.testing.assert_array_equal(out.alpha, out.pixels[..., 3])


def test_shadow_on_white(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(
        rgb,
        matte,
        RemoveOptions(shadow=True, background=ColorBackground((255, 255, 255, 255))),
    )
    below = out.pixels[TOP + SIDE : TOP + SIDE + 2, LEFT + 10 : LEFT + SIDE - 10].astype(int)
    assert below.mean() < 230
    assert tuple(out.pixels[2, 2]) == (255, 255, 255)


def test_the_edge_stages_colours_change_only_soft_pixels(
    photo: tuple[ByteArray, FloatArray],
) -> None:
    rgb, matte = photo
    plain = compose(rgb, matte, RemoveOptions())
    colours = refine_foreground(rgb, matte)
    refined = compose(rgb, matte, RemoveOptions(), colours=colours)
    solid = matte == 1.0
    np.testing.assert_array_equal(refined.pixels[solid], plain.pixels[solid])
    np.testing.assert_array_equal(refined.alpha, plain.alpha)
    rim_before = plain.pixels[TOP - 1, LEFT + 5 : LEFT + SIDE - 5, 1].astype(float)
    rim_after = refined.pixels[TOP - 1, LEFT + 5 : LEFT + SIDE - 5, 1].astype(float)
    # the rim loses the stripes' green and takes the subject's colour
    assert rim_before.mean() > 100
    assert rim_after.mean() < 0.5 * rim_before.mean()


def test_the_blurred_background_is_the_photos_not_the_subject_colours(
    photo: tuple[ByteArray, FloatArray],
) -> None:
    rgb, matte = photo
    painted = np.zeros_like(rgb)  # colours nothing but the subject may show
    options = RemoveOptions(background=BlurBackground(radius=8))
    plain = compose(rgb, matte, options)
    with_colours = compose(rgb, matte, options, colours=painted)
    outside = matte == 0.0
    np.testing.assert_array_equal(with_colours.pixels[outside], plain.pixels[outside])
    assert with_colours.pixels[TOP + 5, LEFT + 5].max() == 0


def _half_transparent() -> ByteArray:
    """The input's own alpha: the left half transparent, a soft column at the seam."""
    keep = np.full((HEIGHT, WIDTH), 255, np.uint8)
    keep[:, : WIDTH // 2] = 0
    keep[:, WIDTH // 2] = 100
    return keep


@pytest.mark.parametrize(
    "options",
    [
        RemoveOptions(),
        RemoveOptions(mask=True),
        RemoveOptions(invert=True),
        RemoveOptions(invert=True, mask=True),
        RemoveOptions(threshold=0.0),
        RemoveOptions(threshold=0.0, mask=True),
        RemoveOptions(roi=Roi(0, 0, WIDTH, HEIGHT), invert=True),
    ],
    ids=["cut-out", "mask", "invert", "invert-mask", "threshold-0", "threshold-0-mask", "roi"],
)
def test_kept_transparency_is_a_ceiling_after_every_adjustment(
    photo: tuple[ByteArray, FloatArray], options: RemoveOptions
) -> None:
    """A background or shadow asked for is drawn behind; the subject's alpha itself never
    exceeds the input's, even where threshold 0 or invert make everything opaque."""
    rgb, matte = photo
    keep = _half_transparent()
    out = compose(rgb, matte, options, keep=keep)
    alpha = out.pixels if out.mode == "L" else out.pixels[..., 3]
    # the subject straddles the seam: its left part goes, its right part stays
    assert (alpha[:, : WIDTH // 2] == 0).all()
    assert (alpha[:, WIDTH // 2] <= 100).all()
    assert alpha[:, WIDTH // 2 + 1 :].max() == 255


def test_kept_transparency_shows_the_new_background(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    blue = RemoveOptions(background=ColorBackground((0, 0, 255, 255)))
    out = compose(rgb, matte, blue, keep=_half_transparent())
    assert out.mode == "RGB"
    # the subject's left half was transparent in the input: the new background shows there
    assert tuple(out.pixels[TOP + 5, LEFT + 5]) == (0, 0, 255)
    assert tuple(out.pixels[TOP + 5, LEFT + SIDE - 5]) == SUBJECT
    assert out.foreground is not None and out.foreground.left == WIDTH // 2


def test_kept_transparency_moves_with_the_crop(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    out = compose(rgb, matte, RemoveOptions(crop=True), keep=_half_transparent())
    # only the visible part of the subject is the subject now
    assert out.foreground == Box(top=0, left=0, width=LEFT + SIDE - WIDTH // 2, height=SIDE + 1)
    assert out.pixels.shape[:2] == (SIDE + 1, LEFT + SIDE - WIDTH // 2)


def test_mismatched_shapes_are_a_programming_error(photo: tuple[ByteArray, FloatArray]) -> None:
    rgb, matte = photo
    with pytest.raises(ValueError, match="do not match"):
        compose(rgb, matte[:-1], RemoveOptions())
    with pytest.raises(ValueError, match=r"keep .* do not match"):
        compose(rgb, matte, RemoveOptions(), keep=np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"colours .* do not match"):
        compose(rgb, matte, RemoveOptions(), colours=rgb[:-1])
