"""encode() and the fast PNG encoder: exact pixels, valid files, every output format."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from cutout.imaging.compose import Composite
from cutout.imaging.encode import encode, flatten, png_bytes
from cutout.imaging.fast_png import _adler32_combine, clear_transparent, encode_png


def _photo_like(height: int, width: int, channels: int, seed: int = 3) -> np.ndarray:
    """Smooth gradients plus noise: compressible, but not trivially."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = (xs * 255 // max(width - 1, 1) + ys * 3) % 256
    planes = [(base + 40 * index + rng.integers(0, 6, base.shape)) % 256 for index in range(3)]
    if channels == 4:
        planes.append(np.where(xs < width // 2, 255, (ys * 7) % 256))
    stacked = np.stack(planes[:channels], axis=-1).astype(np.uint8)
    return stacked[..., 0] if channels == 1 else stacked


def _composite(pixels: np.ndarray) -> Composite:
    alpha = pixels[..., 3] if pixels.ndim == 3 and pixels.shape[2] == 4 else None
    if alpha is None:
        alpha = np.full(pixels.shape[:2], 255, np.uint8)
    return Composite(pixels=pixels, foreground=None, alpha=np.ascontiguousarray(alpha))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        offset += 12 + length
    return chunks


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_fast_png_round_trips_exactly(channels: int, level: int) -> None:
    pixels = _photo_like(37, 53, channels)
    data = encode_png(pixels, level=level)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        assert np.array_equal(np.asarray(image), pixels)


def test_fast_png_in_many_strips_is_one_valid_zlib_stream() -> None:
    pixels = _photo_like(700, 800, 4)  # 2.2 MB raw: several 1 MiB strips
    data = encode_png(pixels, level=1, threads=3)
    chunks = _chunks(data)
    idat = [body for kind, body in chunks if kind == b"IDAT"]
    assert len(idat) >= 2
    # zlib (not only Pillow) accepts the stitched stream, checksum included
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == 700 * (1 + 800 * 4)
    with Image.open(io.BytesIO(data)) as image:
        assert np.array_equal(np.asarray(image), pixels)
    assert encode_png(pixels, level=1, threads=1) != data  # really split differently
    with Image.open(io.BytesIO(encode_png(pixels, level=1, threads=1))) as single:
        assert np.array_equal(np.asarray(single), pixels)


def test_fast_png_is_smaller_than_stored_and_pillow_level_one_on_a_photo() -> None:
    pixels = _photo_like(300, 400, 3)
    fast = len(encode_png(pixels, level=1))
    stored = len(encode_png(pixels, level=0))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    assert fast < stored / 2
    assert fast < len(buffer.getvalue()) * 1.25


def test_adler32_combine_matches_zlib() -> None:
    first, second = b"cut" * 5000, bytes(range(256)) * 300
    combined = _adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


def test_fast_png_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="levels"):
        encode_png(np.zeros((4, 4), np.uint8), level=6)


def test_png_above_fast_levels_uses_pillow_and_stays_exact() -> None:
    pixels = _photo_like(40, 60, 4)
    for clear, expected in ((False, pixels), (True, _visible(pixels))):
        data = png_bytes(pixels, compress_level=9, clear=clear)
        with Image.open(io.BytesIO(data)) as image:
            assert np.array_equal(np.asarray(image), expected)


def _visible(rgba: np.ndarray) -> np.ndarray:
    """What a cleared PNG holds: the same pixels, colour 0 where alpha is 0."""
    expected = rgba.copy()
    expected[rgba[..., 3] == 0] = 0
    return expected


def test_clearing_transparent_colour_changes_only_invisible_pixels() -> None:
    rgba = _photo_like(200, 300, 4)
    assert (rgba[..., 3] == 0).any() and (rgba[rgba[..., 3] == 0][:, :3] > 0).any()
    kept = encode_png(rgba, level=1)
    cleared = encode_png(rgba, level=1, clear=True)
    with Image.open(io.BytesIO(cleared)) as image:
        assert np.array_equal(np.asarray(image), _visible(rgba))
    with Image.open(io.BytesIO(kept)) as image:
        assert np.array_equal(np.asarray(image), rgba)
    assert len(cleared) < len(kept)
    rgb = rgba[..., :3].copy()  # no alpha: nothing to clear
    assert encode_png(rgb, level=1, clear=True) == encode_png(rgb, level=1)


def test_encode_png_of_a_cutout_and_of_a_mask() -> None:
    rgba = _photo_like(30, 50, 4)
    with Image.open(io.BytesIO(encode(_composite(rgba), "png"))) as image:
        assert np.array_equal(np.asarray(image), _visible(rgba))
    mask = rgba[..., 3].copy()
    with Image.open(io.BytesIO(encode(_composite(mask), "png"))) as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image), mask)


def test_encode_png_accepts_a_non_contiguous_view() -> None:
    rgba = _photo_like(30, 50, 4)
    view = rgba[::2, ::3]
    with Image.open(io.BytesIO(encode(_composite(view), "png"))) as image:
        assert np.array_equal(np.asarray(image), _visible(view))


def test_webp_keeps_alpha() -> None:
    rgba = _photo_like(40, 64, 4)
    with Image.open(io.BytesIO(encode(_composite(rgba), "webp", quality=90))) as image:
        assert image.format == "WEBP" and image.mode == "RGBA"
        decoded = np.asarray(image)
    assert np.abs(decoded[..., 3].astype(int) - rgba[..., 3]).max() <= 2
    assert np.abs(decoded[..., :3].astype(int) - rgba[..., :3]).mean() < 10


def test_jpeg_flattens_transparency_on_white() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = (20, 40, 200)
    rgba[:, 16:, 3] = 255  # left half fully transparent
    with Image.open(io.BytesIO(encode(_composite(rgba), "jpg", quality=95))) as image:
        assert image.mode == "RGB"
        decoded = np.asarray(image).astype(int)
    assert np.abs(decoded[4:-4, 2:12] - 255).max() <= 6
    assert np.abs(decoded[4:-4, 20:30] - (20, 40, 200)).max() <= 12


def test_flatten_blends_partial_alpha_exactly() -> None:
    rgba = np.array([[[0, 0, 0, 128], [200, 100, 50, 0], [10, 20, 30, 255]]], np.uint8)
    flat = np.asarray(flatten(rgba))
    assert flat[0, 1].tolist() == [255, 255, 255]
    assert flat[0, 2].tolist() == [10, 20, 30]
    assert abs(int(flat[0, 0, 0]) - round(255 * 127 / 255)) <= 1


def test_zip_holds_color_jpg_and_alpha_png() -> None:
    rgba = _photo_like(40, 48, 4)
    data = encode(_composite(rgba), "zip", quality=95)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        with Image.open(io.BytesIO(archive.read("color.jpg"))) as color:
            assert color.format == "JPEG" and color.mode == "RGB" and color.size == (48, 40)
            difference = np.abs(np.asarray(color).astype(int) - rgba[..., :3]).mean()
        with Image.open(io.BytesIO(archive.read("alpha.png"))) as alpha:
            assert alpha.mode == "L"
            assert np.array_equal(np.asarray(alpha), rgba[..., 3])
    assert difference < 12  # JPEG at 4:2:0 on sharp synthetic edges


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="bmp"):
        encode(_composite(_photo_like(4, 4, 3)), "bmp")  # type: ignore[arg-type]


def test_a_mask_encodes_to_every_format() -> None:
    mask = _photo_like(24, 40, 4)[..., 3].copy()
    for fmt in ("png", "webp", "jpg", "zip"):
        data = encode(_composite(mask), fmt)  # type: ignore[arg-type]
        assert len(data) > 0
        if fmt != "zip":
            with Image.open(io.BytesIO(data)) as image:
                assert image.size == (40, 24)
                grey = np.asarray(image.convert("L")).astype(int)
            assert np.abs(grey - mask).mean() < 12


def test_clear_transparent_zeroes_exactly_the_pixels_with_alpha_zero() -> None:
    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba[..., 3] = rng.choice(np.asarray([0, 1, 128, 255], np.uint8), (37, 53))
    cleared = clear_transparent(rgba)
    expected = np.where(rgba[..., 3:4] == 0, np.uint8(0), rgba)
    assert cleared.shape == rgba.shape and cleared.dtype == np.uint8
    assert np.array_equal(cleared, expected)
    assert np.array_equal(clear_transparent(rgba[:, ::2]), expected[:, ::2])  # strided input
    with pytest.raises(ValueError, match="H x W x 4"):
        clear_transparent(rgba[..., :3])
