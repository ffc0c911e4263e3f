"""Small real photos for batch tests: the shared photos, scaled down and varied.

``catalogue(count)`` gives ``count`` distinct JPEGs (``name -> bytes``) of at most
``side`` px, made from ../shared/images (each photo mirrored and cropped a little
differently), under a few sub-folders the way a shop's catalogue is laid out. Small,
because the model's input is 320 px whatever the photo: decoding and encoding large
photos would only make a test slower, not test more.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageOps

from tests.conftest import SHARED_IMAGES

__all__ = ["catalogue"]

_FOLDERS = ("", "shoes/", "bags/", "bags/leather/")


@cache
def _bases(side: int) -> tuple[Image.Image, ...]:
    images = []
    for path in sorted(Path(SHARED_IMAGES).glob("*.jpg")):
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((side, side))
            images.append(image)
    return tuple(images)


def catalogue(count: int, *, side: int = 320) -> dict[str, bytes]:
    bases = _bases(side)
    photos = {}
    for index in range(count):
        image = bases[index % len(bases)]
        variant = index // len(bases)
        if variant % 2:
            image = ImageOps.mirror(image)
        trim = variant // 2
        image = image.crop((trim, trim, image.width - trim, image.height - trim))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        photos[f"{_FOLDERS[index % len(_FOLDERS)]}sku-{index:03d}.jpg"] = buffer.getvalue()
    return photos
