"""What the caller asks for: :class:`RemoveOptions` and the parsers of its string forms.

The CLI flags, the native API's query/form parameters and the remove.bg parameters all
end up as one ``RemoveOptions``. Parsing errors raise :class:`InvalidOptionError` whose
``code`` names the option (``invalid_bg_color``, ``invalid_crop_margin``...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from cutout.errors import CutoutError, InvalidOptionError
from cutout.imaging.colors import parse_color

__all__ = [
    "Background",
    "BlurBackground",
    "ColorBackground",
    "ImageBackground",
    "Margin",
    "OutputFormat",
    "Position",
    "RemoveOptions",
    "Roi",
    "parse_background",
    "parse_background_color",
    "parse_canvas",
    "parse_fill",
    "parse_margin",
    "parse_position",
    "parse_roi",
    "parse_scale",
    "parse_threshold",
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

# (x, y) fractions of the free space around the subject, or "original" (stay in place).
Position = tuple[float, float] | Literal["original"]


@dataclass(frozen=True)
class Roi:
    """remove.bg's region of interest ``x1 y1 x2 y2``; each value in px or % (of W or H).

    Nothing outside ``[x1, x2) x [y1, y2)`` can be foreground.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    # which of x1, y1, x2, y2 are percentages
    percent: tuple[bool, bool, bool, bool] = (False, False, False, False)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The region in px for a ``width`` x ``height`` image (raises when it does not fit)."""
        sides = (width, height, width, height)
        values = [
            round(value * side / 100) if percent else round(value)
            for value, side, percent in zip(
                (self.x1, self.y1, self.x2, self.y2), sides, self.percent, strict=True
            )
        ]
        x1, y1, x2, y2 = values
        if x2 > width or y2 > height:
            raise InvalidOptionError(
                f"roi {x1} {y1} {x2} {y2} exceeds the {width}x{height} image",
                code="roi_exceeds_bounds",
            )
        if x2 <= x1 or y2 <= y1:
            raise InvalidOptionError(f"roi {x1} {y1} {x2} {y2} is empty", code="roi_region_empty")
        return x1, y1, x2, y2


@dataclass(frozen=True)
class Margin:
    """Crop margin: top, right, bottom, left; each in px, or in % of the subject's size."""

    top: float = 0.0
    right: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    percent: bool = False

    def pixels(self, subject_width: int, subject_height: int) -> tuple[int, int, int, int]:
        """(top, right, bottom, left) in px for a subject of the given size (uncapped)."""
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
    # remove.bg's region of interest (x1, y1, x2, y2 in px, or a Roi with %):
    # nothing outside is foreground.
    roi: tuple[int, int, int, int] | Roi | None = None
    # remove.bg's scale (subject size relative to the output, 0.1..1) and position
    # ((x, y) fractions of the free space, or "original"). None is remove.bg's default:
    # centred when scale or canvas is given, otherwise where the subject was.
    scale: float | None = None
    position: Position | None = None
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
        if isinstance(self.position, tuple) and not all(0.0 <= v <= 1.0 for v in self.position):
            raise InvalidOptionError(
                "position must be between 0% and 100%", code="invalid_position"
            )
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


def _looks_like_path(text: str) -> bool:
    return any(mark in text for mark in ("/", "\\", "."))


def parse_background(
    text: str, *, load_image: Callable[[str], npt.NDArray[np.uint8]]
) -> Background:
    """``"blur"``, ``"blur:R"``, a colour (hex or CSS name) or the path of an image.

    ``load_image`` reads a path into H x W x 3 uint8 (the CLI passes ``decode``); its
    CutoutError or OSError becomes an InvalidOptionError here.
    """
    value = text.strip()
    blur = re.fullmatch(r"blur(?::\s*" + _NUMBER + r")?", value, flags=re.IGNORECASE)
    if blur is not None:
        if blur.group(1) is None:
            return BlurBackground()
        radius = float(blur.group(1))
        if not 0.0 < radius <= 500.0:
            raise InvalidOptionError(
                f"background {text!r}: blur radius must be in (0, 500]", code="invalid_bg_blur"
            )
        return BlurBackground(radius)
    if value.lower().startswith("blur:"):
        raise InvalidOptionError(
            f"background {text!r}: expected blur or blur:RADIUS, e.g. blur:20",
            code="invalid_bg_blur",
        )
    try:
        return parse_background_color(value)
    except InvalidOptionError:
        if not value or not _looks_like_path(value):
            raise
    try:
        rgb = load_image(value)
    except (CutoutError, OSError) as exc:
        raise InvalidOptionError(
            f"background {text!r} is not a colour and not a readable image: {exc}",
            code="invalid_bg_image",
        ) from exc
    return ImageBackground(rgb)


def _fraction(text: str, *, code: str, name: str, low: float, high: float) -> float:
    """``"0.8"`` or ``"80%"`` -> 0.8, checked against [low, high]."""
    match = re.fullmatch(r"\s*" + _NUMBER + r"\s*(%)?\s*", text)
    if match is None:
        raise InvalidOptionError(f"{name} {text!r}: expected a number or a %", code=code)
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    if not low <= value <= high:
        raise InvalidOptionError(
            f"{name} {text!r}: must be between {low:g} and {high:g} ({low:.0%}..{high:.0%})",
            code=code,
        )
    return value


def parse_fill(text: str) -> float:
    """Canvas fill: ``"0.8"`` or ``"80%"`` (from 5% to 100%)."""
    return _fraction(text, code="invalid_fill", name="fill", low=0.05, high=1.0)


def parse_threshold(text: str) -> float:
    """Hard alpha threshold: ``"0.5"`` or ``"50%"``."""
    return _fraction(text, code="invalid_threshold", name="threshold", low=0.0, high=1.0)


def parse_scale(text: str) -> float | None:
    """remove.bg's scale: ``"10%"``..``"100%"``, or ``"original"`` (None)."""
    value = text.strip().lower()
    if value == "original":
        return None
    match = re.fullmatch(_NUMBER + r"\s*%", value)
    if match is None:
        raise InvalidOptionError(
            f"scale {text!r}: expected 10%..100% or original", code="invalid_scale"
        )
    scale = float(match.group(1)) / 100.0
    if not 0.1 <= scale <= 1.0:
        raise InvalidOptionError(
            f"scale {text!r}: must be between 10% and 100%", code="invalid_scale"
        )
    return scale


def parse_position(text: str) -> Position:
    """remove.bg's position: ``"original"``, ``"center"``, ``"x%"`` or ``"x% y%"``."""
    value = text.strip().lower()
    if value == "original":
        return "original"
    if value in ("center", "centre"):
        return (0.5, 0.5)
    parts = [part for part in re.split(r"[\s,]+", value) if part]
    fractions: list[float] = []
    for part in parts:
        match = re.fullmatch(_NUMBER + r"%", part)
        if match is None or not 0.0 <= float(match.group(1)) <= 100.0:
            fractions = []
            break
        fractions.append(float(match.group(1)) / 100.0)
    if len(fractions) == 1:
        return (fractions[0], fractions[0])
    if len(fractions) == 2 and len(parts) == 2:
        return (fractions[0], fractions[1])
    raise InvalidOptionError(
        f"position {text!r}: expected original, center, or 0%..100% (one or two values)",
        code="invalid_position",
    )


def parse_roi(text: str) -> Roi:
    """remove.bg's roi ``"x1 y1 x2 y2"``, each value px (``"10"``, ``"10px"``) or ``"10%"``."""
    parts = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    values: list[float] = []
    percent: list[bool] = []
    for part in parts:
        match = re.fullmatch(_NUMBER + r"(px|%)?", part.lower())
        if match is None:
            break
        value = float(match.group(1))
        is_percent = match.group(2) == "%"
        if is_percent and value > 100.0:
            raise InvalidOptionError(
                f"roi {text!r}: {part} is over 100%", code="roi_exceeds_bounds"
            )
        values.append(value)
        percent.append(is_percent)
    if len(parts) != 4 or len(values) != 4:
        raise InvalidOptionError(
            f"roi {text!r}: expected x1 y1 x2 y2 in px or %, e.g. '0% 0% 100% 100%'",
            code="invalid_roi",
        )
    x1, y1, x2, y2 = values
    for low, high, low_pct, high_pct in (
        (x1, x2, percent[0], percent[2]),
        (y1, y2, percent[1], percent[3]),
    ):
        if low_pct == high_pct and high <= low:
            raise InvalidOptionError(f"roi {text!r} is empty", code="roi_region_empty")
    return Roi(x1, y1, x2, y2, percent=(percent[0], percent[1], percent[2], percent[3]))
