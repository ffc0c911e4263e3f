"""decode(): formats, sniffing, orientation, colour management, modes, errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from tests.conftest import REPO, SHARED_IMAGES

from cutout.errors import CutoutError, DecodeError, UnsupportedFormatError
from cutout.imaging.decode import decode
from cutout.imaging.icc import is_srgb_profile


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _gradient(size: tuple[int, int] = (48, 32)) -> Image.Image:
    """Red rises downwards, green rightwards, blue is constant: saturated colours."""
    ramp = Image.linear_gradient("L").resize(size)
    across = ramp.transpose(Image.Transpose.ROTATE_90).resize(size)
    return Image.merge("RGB", (ramp, across, Image.new("L", size, 60)))


@pytest.fixture(scope="module")
def adobe_rgb_profile() -> bytes:
    """The Adobe RGB (1998) profile embedded in the shared aeroplane photo."""
    with Image.open(SHARED_IMAGES / "aeroplane.jpg") as image:
        icc = image.info["icc_profile"]
    assert isinstance(icc, bytes)
    return icc


@pytest.mark.parametrize(
    ("fmt", "params", "lossless"),
    [
        ("PNG", {}, True),
        ("BMP", {}, True),
        ("TIFF", {}, True),
        ("TIFF", {"compression": "tiff_lzw"}, True),
        ("WEBP", {"lossless": True}, True),
        ("GIF", {}, False),
        ("JPEG", {"quality": 95}, False),
    ],
)
def test_raster_formats_decode_to_the_same_picture(
    fmt: str, params: dict[str, object], lossless: bool
) -> None:
    source = _gradient()
    image = decode(_save(source, fmt, **params))
    assert image.format == fmt
    assert (image.width, image.height) == source.size
    difference = np.abs(image.rgb.astype(int) - np.asarray(source)).mean()
    assert difference == 0 if lossless else difference < 8


def test_fast_jpeg_path_matches_pillow_exactly_on_a_photo() -> None:
    data = (SHARED_IMAGES / "animal-1.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as reference:
        icc = reference.info.get("icc_profile")
        assert icc is None or is_srgb_profile(icc)  # so Pillow's raw pixels are the answer
        expected = np.asarray(reference.convert("RGB"))
    assert np.array_equal(decode(data).rgb, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = _gradient((40, 24))
    stored.paste((255, 0, 0), (0, 0, 8, 8))  # a marker corner, so flips are visible
    for fmt in ("JPEG", "PNG"):
        data = _save(stored, fmt, exif=exif)
        with Image.open(io.BytesIO(data)) as opened:
            expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        decoded = decode(data)
        assert decoded.rgb.shape == expected.shape
        assert np.abs(decoded.rgb.astype(int) - expected).max() <= 1


def test_rotated_input_rotates_its_alpha_too() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    rgba = Image.new("RGBA", (40, 20), (0, 128, 0, 255))
    rgba.paste((0, 128, 0, 0), (0, 0, 20, 20))  # left half transparent
    decoded = decode(_save(rgba, "PNG", exif=exif))
    assert decoded.alpha is not None and decoded.alpha.shape == (40, 20)
    # Orientation 8 turns it 90 degrees counter-clockwise: the left half goes to the bottom
    assert np.all(decoded.alpha[:20] == 255) and np.all(decoded.alpha[20:] == 0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_embedded_profile_is_converted_to_srgb(fmt: str, adobe_rgb_profile: bytes) -> None:
    source = _gradient()
    data = _save(
        source, fmt, icc_profile=adobe_rgb_profile, **({"quality": 100} if fmt == "JPEG" else {})
    )
    with Image.open(io.BytesIO(data)) as opened:
        raw = np.asarray(opened.convert("RGB"))
        expected = np.asarray(
            ImageCms.profileToProfile(
                opened,
                ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_profile)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGB",
            )
        )
    decoded = decode(data).rgb
    assert np.abs(decoded.astype(int) - expected).max() <= 1
    # Adobe RGB's wider gamut: green is less saturated once expressed in sRGB
    assert np.abs(decoded.astype(int) - raw).max() > 10


def test_srgb_profile_is_left_alone() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = _gradient()
    decoded = decode(_save(source, "PNG", icc_profile=srgb))
    assert np.array_equal(decoded.rgb, np.asarray(source))


def test_broken_profile_does_not_stop_decoding() -> None:
    source = _gradient()
    decoded = decode(_save(source, "PNG", icc_profile=b"not a profile at all" * 8))
    assert np.array_equal(decoded.rgb, np.asarray(source))


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("L", 100, (100, 100, 100)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 255, 0, 0), (255, 0, 255)),
        ("P", 7, None),
    ],
)
def test_other_modes_become_rgb(
    mode: str, colour: object, expected: tuple[int, int, int] | None
) -> None:
    image = Image.new(mode, (16, 8), colour)  # type: ignore[arg-type]
    if expected is None:
        expected = image.convert("RGB").getpixel((0, 0))  # type: ignore[assignment]
    for fmt in ("TIFF", "JPEG") if mode == "CMYK" else ("PNG",):
        decoded = decode(_save(image, fmt))
        assert decoded.rgb.shape == (8, 16, 3)
        assert np.abs(decoded.rgb.astype(int) - np.asarray(expected)).max() <= 2


def test_sixteen_bit_tiff_is_scaled_to_eight_bits() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    decoded = decode(_save(Image.fromarray(values), "TIFF"))
    assert decoded.rgb[0, :, 0].tolist() == [0, 1, 128, 255]


def test_palette_with_transparency_and_grey_alpha_keep_their_alpha() -> None:
    palette = Image.new("P", (8, 4), 0)
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.paste(1, (4, 0, 8, 4))
    alpha = Image.new("L", (8, 4), 0)
    alpha.paste(255, (4, 0, 8, 4))
    grey_alpha = Image.merge("LA", (Image.new("L", (8, 4), 90), alpha))
    for data in (_save(palette, "PNG", transparency=0), _save(grey_alpha, "PNG")):
        decoded = decode(data)
        assert decoded.alpha is not None
        assert decoded.alpha[:, :4].max() == 0 and decoded.alpha[:, 4:].min() == 255


def test_path_and_bytes_give_the_same_image(tmp_path: Path) -> None:
    data = _save(_gradient(), "PNG")
    path = tmp_path / "picture.webp"  # a misleading name: content decides
    path.write_bytes(data)
    assert np.array_equal(decode(path).rgb, decode(data).rgb)
    assert np.array_equal(decode(str(path)).rgb, decode(data).rgb)


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="cannot read"):
        decode(tmp_path / "absent.jpg")


# Pillow warns about some damage (e.g. "Corrupt EXIF data") on its way to an answer
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_damaged_files_only_ever_raise_cutout_errors(fmt: str) -> None:
    data = _save(_gradient((64, 48)), fmt)
    rng = np.random.default_rng(7)
    variants = [data[:cut] for cut in (8, 16, 30, len(data) // 3, len(data) // 2, len(data) - 10)]
    for _ in range(20):
        damaged = bytearray(data)
        for position in rng.integers(0, len(data), size=4):
            damaged[int(position)] ^= 0xFF
        variants.append(bytes(damaged))
    for variant in variants:
        try:
            image = decode(variant)
        except CutoutError:
            continue  # anything else (OSError, SyntaxError, struct.error...) fails the test
        assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3


def test_rgba_with_a_profile_converts_colour_and_keeps_alpha(adobe_rgb_profile: bytes) -> None:
    source = _gradient().convert("RGBA")
    source.putalpha(Image.linear_gradient("L").resize(source.size))
    decoded = decode(_save(source, "PNG", icc_profile=adobe_rgb_profile))
    expected = ImageCms.profileToProfile(
        source.convert("RGB"),
        ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_profile)),
        ImageCms.createProfile("sRGB"),
        outputMode="RGB",
    )
    assert np.abs(decoded.rgb.astype(int) - np.asarray(expected)).max() <= 1
    assert decoded.alpha is not None
    assert np.array_equal(decoded.alpha, np.asarray(source.getchannel("A")))


def test_a_grey_image_with_an_rgb_profile_still_decodes(adobe_rgb_profile: bytes) -> None:
    grey = Image.new("L", (16, 8), 77)
    decoded = decode(_save(grey, "PNG", icc_profile=adobe_rgb_profile))
    assert np.all(decoded.rgb == 77)


def test_codecs_load_on_first_use_not_at_import(tmp_path: Path) -> None:
    from tests.corpus import heic

    photo = tmp_path / "photo.heic"
    photo.write_bytes(heic().data)
    png = tmp_path / "photo.png"
    png.write_bytes(_save(_gradient(), "PNG"))
    script = (
        "import sys, cutout.engine, cutout.imaging.decode, cutout.imaging.encode\n"
        "codecs = ('pillow_heif', 'simplejpeg', 'isal')\n"
        "loaded = lambda: sorted(m for m in codecs if m in sys.modules)\n"
        "print(loaded())\n"
        f"cutout.imaging.decode.decode({str(png)!r})\n"
        "print(loaded())\n"
        f"print(cutout.imaging.decode.decode({str(photo)!r}).format, loaded())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]", "HEIF ['pillow_heif']"]


def test_formats_outside_the_supported_list_are_refused_by_name() -> None:
    # EPS would run Ghostscript to decode; cutout never opens it
    eps = _save(_gradient(), "EPS")
    with pytest.raises(UnsupportedFormatError, match="EPS"):
        decode(eps)
    ico = decode(_save(_gradient((32, 32)), "ICO"))  # a supported one, for contrast
    assert (ico.width, ico.height) == (32, 32)
