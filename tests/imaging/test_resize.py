"""downscale: a decoded photo shrunk to a megapixel budget, aspect kept, alpha along."""

from __future__ import annotations

import numpy as np
import pytest

from cutout.imaging.decode import DecodedImage
from cutout.imaging.resize import downscale


def _image(width: int, height: int, *, alpha: bool = False) -> DecodedImage:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    matte = np.full((height, width), 200, np.uint8) if alpha else None
    return DecodedImage(rgb=rgb, alpha=matte, format="PNG")


def test_within_the_budget_or_without_one_the_image_is_itself() -> None:
    image = _image(500, 400)
    assert downscale(image, None) is image
    assert downscale(image, 0.2) is image  # exactly 0.2 MP
    assert downscale(image, 1.0) is image


@pytest.mark.parametrize(("width", "height"), [(1000, 667), (667, 1000), (4000, 250)])
def test_over_the_budget_it_shrinks_to_fit_keeping_the_aspect(width: int, height: int) -> None:
    image = downscale(_image(width, height, alpha=True), 0.25)
    assert image.width * image.height <= 250_000
    assert image.width * image.height > 240_000  # as large as the budget allows
    assert image.width / image.height == pytest.approx(width / height, rel=0.02)
    assert image.alpha is not None and image.alpha.shape == (image.height, image.width)
    assert image.rgb.dtype == np.uint8 and image.format == "PNG"


def test_no_side_shrinks_below_one_pixel() -> None:
    # 100 px of budget for a 4000 x 1 strip: both sides scale by sqrt(100 / 4000), and the
    # height stays 1 px (so a strip this thin ends up over the budget)
    image = downscale(_image(4000, 1), 0.0001)
    assert (image.width, image.height) == (632, 1)
