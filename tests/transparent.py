"""A real photo that was cut out before: an RGBA PNG whose left half is transparent.

The colours under the transparent half are the photo's own, so the model still sees the
subject there: only the input's alpha says that half must stay transparent. Used by the
library, CLI and HTTP tests of kept transparency.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import EXAMPLES

__all__ = ["PHOTO", "half_transparent_png", "transparent_columns"]

PHOTO = EXAMPLES / "animal-1.jpg"


def half_transparent_png(path: Path = PHOTO) -> bytes:
    """``path`` as an RGBA PNG: alpha 0 left of the middle column, 255 from it on."""
    with Image.open(path) as opened:
        rgba = np.asarray(opened.convert("RGBA")).copy()
    rgba[:, : transparent_columns(rgba.shape[1]), 3] = 0
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def transparent_columns(width: int) -> int:
    """How many columns, from the left, the input of ``width`` has transparent."""
    return width // 2
