"""The generated bad-input corpus (tests/corpus.py) through decode: a right result or the
right error, never a raw Pillow exception, and the bomb refused without decoding it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests import corpus
from tests.conftest import REPO

from cutout.errors import CutoutError, ImageTooLargeError
from cutout.imaging.decode import decode

CASES = corpus.all_cases()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_case_decodes_or_raises_the_right_error(case: corpus.Case) -> None:
    if case.error is None:
        image = decode(case.data)
        assert (image.width, image.height) == corpus.EXPECTED_SIZES[case.name]
        assert image.rgb.dtype == np.uint8
        assert image.rgb.shape == (image.height, image.width, 3)
    else:
        with pytest.raises(case.error) as caught:
            decode(case.data)
        # the exact class, not only a base class: callers map classes to codes
        assert type(caught.value) is case.error
        assert caught.value.message


def test_errors_are_cutout_errors_that_keep_the_foreign_cause() -> None:
    for case in CASES:
        if case.error is None:
            continue
        with pytest.raises(CutoutError) as caught:
            decode(case.data)
        assert not isinstance(caught.value, OSError | ValueError)
    with pytest.raises(CutoutError) as truncated:
        decode(corpus.truncated_jpeg().data)
    # translated once, at the boundary, with ``raise ... from exc``
    assert isinstance(truncated.value.__cause__, OSError)


def test_exif_rotated_jpeg_is_upright() -> None:
    image = decode(corpus.exif_rotated_jpeg().data)
    top, bottom = image.rgb[: image.height // 2], image.rgb[image.height // 2 :]
    # stored left-red / right-blue, Orientation 6: upright it is red on top, blue below
    assert top[2:-2, 2:-2, 0].min() > 200 and top[2:-2, 2:-2, 2].max() < 60
    assert bottom[2:-2, 2:-2, 2].min() > 200 and bottom[2:-2, 2:-2, 0].max() < 60


def test_cmyk_jpeg_is_converted_with_adobe_inversion() -> None:
    image = decode(corpus.cmyk_jpeg().data)
    # pure cyan; an un-inverted Adobe CMYK would come out red
    assert np.abs(image.rgb.astype(int) - (0, 255, 255)).max() <= 3


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    image = decode(corpus.sixteen_bit_png().data)
    row = image.rgb[0, :, 0].astype(int)
    expected = np.round(np.linspace(0, 255, 64)).astype(int)
    assert np.abs(row - expected).max() <= 1
    assert np.array_equal(image.rgb[..., 0], image.rgb[..., 2])


def test_animated_gif_gives_its_first_frame() -> None:
    image = decode(corpus.animated_gif().data)
    assert image.format == "GIF"
    assert np.all(image.rgb == (255, 0, 0))


def test_heic_and_avif_decode_to_their_colours() -> None:
    source = np.asarray(corpus._photo(), dtype=np.float32)
    for case, fmt in ((corpus.heic(), "HEIF"), (corpus.avif(), "AVIF")):
        image = decode(case.data)
        assert image.format == fmt
        # lossy codecs drift a little; a wrong channel order or range would not
        assert np.abs(image.rgb.astype(np.float32) - source).mean() < 8


def test_png_named_jpg_is_sniffed_as_png(tmp_path: Path) -> None:
    case = corpus.png_named_jpg()
    path = tmp_path / case.name
    path.write_bytes(case.data)
    assert decode(path).format == "PNG"


def test_input_alpha_is_kept() -> None:
    image = decode(corpus.png_rgba().data)
    assert image.alpha is not None
    assert np.all(image.alpha[:, :32] == 255) and np.all(image.alpha[:, 32:] == 0)


def test_bomb_is_refused_from_the_header_with_a_configurable_limit() -> None:
    data = corpus.bomb_png().data
    assert len(data) < 300_000
    with pytest.raises(ImageTooLargeError, match="40000x40000"):
        decode(data)
    small = corpus.png_named_jpg().data  # 64 x 48 = 3072 pixels
    assert decode(small, max_pixels=3072).width == 64
    with pytest.raises(ImageTooLargeError, match="64x48"):
        decode(small, max_pixels=3071)


def test_bomb_refusal_keeps_memory_bounded() -> None:
    # a fresh interpreter, so that the peak RSS is this decode's and not the test run's
    script = textwrap.dedent(
        """
        import resource
        from cutout.errors import ImageTooLargeError
        from cutout.imaging.decode import decode
        from tests.corpus import bomb_png, one_pixel
        data = bomb_png().data
        decode(one_pixel().data)  # imports and plugins loaded before measuring
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            decode(data)
        except ImageTooLargeError:
            pass
        else:
            raise SystemExit("not refused")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(after - before)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    grown_kib = int(done.stdout.strip())
    # decoding it would need 1.6 GB; refusing it must not grow the process by 20 MB
    assert grown_kib < 20 * 1024
