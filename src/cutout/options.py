"""What the caller asks for: :class:`RemoveOptions` and the parsers of its string forms.

The CLI flags, the native API's query/form parameters and the remove.bg parameters all
end up as one ``RemoveOptions``. Parsing errors raise :class:`InvalidOptionError` whose
``code`` names the option (``invalid_bg_color``, ``invalid_crop_margin``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from cutout.errors import InvalidOptionError
from cutout.imaging.colors import parse_color

__all__ = [
    "Background",
    "BlurBackground",
    "ColorBackground",
    "ImageBackground",
    "Margin",
    "OutputFormat",
    "RemoveOptions",
    "parse_canvas",
    "parse_margin",
]

OutputFormat = Literal["png", "webp", "jpg", "zip"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "webp", "jpg", "zip")


@dataclass(frozen=True)
class ColorBackground:
    rgba: tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class ImageBackground:
    """A background photo, cover-fitted behind the subject. ``rgb`` is H x W x 3 uint8."""

    rgb: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class BlurBackground:
    """The photo's own background, blurred (Gaussian radius in px at 1000 px width)."""

    radius: float = 20.0


Background = ColorBackground | ImageBackground | BlurBackground


@dataclass(frozen=True)
class Margin:
    """Crop margin: top, right, bottom, left; each in px, or in % of the subject's size."""

    top: float = 0.0
    right: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    percent: bool = False

    def pixels(self, subject_width: int, subject_height: int) -> tuple[int, int, int, int]:
        if not self.percent:
            return (round(self.top), round(self.right), round(self.bottom), round(self.left))
        return (
            round(self.top * subject_height / 100),
            round(self.right * subject_width / 100),
            round(self.bottom * subject_height / 100),
            round(self.left * subject_width / 100),
        )


@dataclass(frozen=True, eq=False)
class RemoveOptions:
    """Every choice about the output. The defaults give a transparent PNG cut-out."""

    mask: bool = False
    background: Background | None = None
    threshold: float | None = None
    invert: bool = False
    crop: bool = False
    margin: Margin = field(default_factory=Margin)
    canvas: tuple[int, int] | None = None
    fill: float = 0.8
    shadow: bool = False
    refine_edges: bool = False
    format: OutputFormat = "png"
    # remove.bg's region of interest (x1, y1, x2, y2 in px): nothing outside is foreground.
    roi: tuple[int, int, int, int] | None = None
    # remove.bg's scale (subject size relative to the output, 0.1..1) and position
    # ((x, y) fractions of the free space, or None for "original").
    scale: float | None = None
    position: tuple[float, float] | None = None
    # raise NoForegroundError when the matte is empty (remove.bg's unknown_foreground)
    require_foreground: bool = False
    quality: int = 90
    png_compress_level: int = 1

    def __post_init__(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise InvalidOptionError(
                f"format must be one of {', '.join(OUTPUT_FORMATS)}, not {self.format!r}",
                code="invalid_format",
            )
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidOptionError("threshold must be between 0 and 1", code="invalid_threshold")
        if not 0.05 <= self.fill <= 1.0:
            raise InvalidOptionError("fill must be between 0.05 and 1", code="invalid_fill")
        if self.scale is not None and not 0.1 <= self.scale <= 1.0:
            raise InvalidOptionError("scale must be between 10% and 100%", code="invalid_scale")
        if not 1 <= self.quality <= 100:
            raise InvalidOptionError("quality must be between 1 and 100", code="invalid_quality")
        if self.canvas is not None and not all(8 <= side <= 10000 for side in self.canvas):
            raise InvalidOptionError(
                "canvas sides must be between 8 and 10000 px", code="invalid_canvas"
            )


_NUMBER = r"(\d+(?:\.\d+)?)"


def parse_margin(text: str) -> Margin:
    """``"20"``, ``"10%"``, ``"10 20"`` (vertical horizontal) or ``"1 2 3 4"`` (CSS order).

    Values are all px or all %; commas may separate them.
    """
    parts = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    if len(parts) not in (1, 2, 4):
        raise InvalidOptionError(
            f"margin {text!r}: give 1, 2 or 4 values", code="invalid_crop_margin"
        )
    percent = [part.endswith("%") for part in parts]
    if any(percent) and not all(percent):
        raise InvalidOptionError(f"margin {text!r}: mix of px and %", code="invalid_crop_margin")
    values: list[float] = []
    for part in parts:
        match = re.fullmatch(_NUMBER + r"(px|%)?", part)
        if match is None:
            raise InvalidOptionError(
                f"margin {text!r}: {part!r} is not a number of px or %",
                code="invalid_crop_margin",
            )
        values.append(float(match.group(1)))
    if len(values) == 1:
        values = values * 4
    elif len(values) == 2:
        values = [values[0], values[1], values[0], values[1]]
    top, right, bottom, left = values
    return Margin(top, right, bottom, left, percent=all(percent))


def parse_canvas(text: str) -> tuple[int, int]:
    """``"2000x2000"`` -> (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match is None:
        raise InvalidOptionError(
            f"canvas {text!r}: expected WIDTHxHEIGHT, e.g. 2000x2000", code="invalid_canvas"
        )
    width, height = int(match.group(1)), int(match.group(2))
    if not (8 <= width <= 10000 and 8 <= height <= 10000):
        raise InvalidOptionError(
            f"canvas {text!r}: sides must be between 8 and 10000 px", code="invalid_canvas"
        )
    return width, height


def parse_background_color(text: str) -> ColorBackground:
    return ColorBackground(parse_color(text))
