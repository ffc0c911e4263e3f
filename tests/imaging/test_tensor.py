"""preprocess() and saliency_to_matte(): shapes, normalisation, and the fast resizes."""

from __future__ import annotations

import numpy as np
from PIL import Image
from tests.conftest import SHARED_IMAGES

from cutout.imaging.decode import decode
from cutout.imaging.tensor import input_shape, preprocess, saliency_to_matte, saliency_to_matte8
from cutout.models.registry import get_spec

U2NETP = get_spec("u2netp")


def test_preprocess_gives_a_normalised_chw_tensor() -> None:
    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[..., 0] = 200  # the image maximum: divides to exactly 1.0 in the red channel
    tensor = preprocess(rgb, U2NETP)
    assert tensor.shape == (3, 320, 320) and tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]
    assert np.allclose(tensor[0], (1.0 - 0.485) / 0.229, atol=1e-4)
    assert np.allclose(tensor[1], (0.0 - 0.456) / 0.224, atol=1e-4)


def test_preprocess_survives_a_black_and_a_one_pixel_image() -> None:
    assert np.isfinite(preprocess(np.zeros((5, 7, 3), np.uint8), U2NETP)).all()
    assert preprocess(np.full((1, 1, 3), 9, np.uint8), U2NETP).shape == (3, 320, 320)


def test_fast_downscale_stays_close_to_plain_lanczos_on_the_large_photo() -> None:
    rgb = decode(SHARED_IMAGES / "aeroplane.jpg").rgb
    fast = preprocess(rgb, U2NETP)
    plain = np.asarray(Image.fromarray(rgb).resize((320, 320), Image.Resampling.LANCZOS))
    plain_unit = plain.astype(np.float32) / float(plain.max())
    mean = np.asarray(U2NETP.mean, np.float32)
    std = np.asarray(U2NETP.std, np.float32)
    reference = ((plain_unit - mean) / std).transpose(2, 0, 1)
    # in pixel terms (x std x 255): under one grey level on average
    difference = np.abs(fast - reference) * np.asarray(U2NETP.std)[:, None, None] * 255
    assert difference.mean() < 1.0


def test_saliency_to_matte_min_maxes_and_resizes() -> None:
    saliency = np.linspace(0.2, 0.6, 320 * 320, dtype=np.float32).reshape(320, 320)
    matte = saliency_to_matte(saliency, U2NETP, width=641, height=479)
    assert matte.shape == (479, 641) and matte.dtype == np.float32
    assert matte.min() == 0.0 and matte.max() == 1.0
    # the ramp runs along rows: top dark, bottom bright
    assert matte[:10].mean() < 0.05 and matte[-10:].mean() > 0.95


def test_saliency_to_matte_of_a_flat_map_does_not_divide_by_zero() -> None:
    matte = saliency_to_matte(np.full((320, 320), 0.5, np.float32), U2NETP, 50, 40)
    assert np.isfinite(matte).all() and matte.shape == (40, 50)


def test_dynamic_input_shape_is_capped_and_rounded() -> None:
    spec = get_spec("inspyrenet-base").with_resize("dynamic")
    height, width = input_shape(spec, 3492, 2328)
    assert height % 32 == 0 and width % 32 == 0
    assert min(height, width) <= spec.dynamic_max_side + 32
    assert input_shape(U2NETP, 3492, 2328) == (320, 320)


def test_eight_bit_matte_is_the_float_matte_in_levels() -> None:
    saliency = np.random.default_rng(3).random((320, 320), dtype=np.float32)
    # 2000 x 1500: large enough to be upsampled in several strips
    matte8 = saliency_to_matte8(saliency, U2NETP, 2000, 1500)
    matte = saliency_to_matte(saliency, U2NETP, 2000, 1500)
    assert matte8.dtype == np.uint8 and matte8.shape == (1500, 2000)
    assert np.array_equal(np.multiply(matte8, np.float32(1 / 255), dtype=np.float32), matte)
    assert matte8.min() == 0 and matte8.max() == 255
