"""What the caller asks for: :class:`RemoveOptions` and the parsers of its string forms.

The CLI flags, the native API's query/form parameters and the remove.bg parameters all
end up as one ``RemoveOptions``. Parsing errors raise :class:`InvalidOptionError` whose
``code`` names the option (``invalid_bg_color``, ``invalid_crop_margin``...).

The allowed range of every numeric option is written once, here, as a :class:`Range`
(``FILL``, ``THRESHOLD``, ``SCALE``...): the parsers of the string forms and
``RemoveOptions`` itself check against the same record, and the crop-margin cap
(``MARGIN_CAP_PX``, ``MARGIN_CAP_PERCENT``) is the one the layout clamps to. The output
format is chosen here too (:func:`resolve_format`: ``auto`` is PNG when the output can
have transparent pixels, else JPEG), for every caller.

This module sits at the bottom of the package with :mod:`cutout.errors` and
:mod:`cutout.colors`; imaging and everything above it read options, never the other way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cutout.arrays import ByteArray
from cutout.colors import parse_color
from cutout.errors import CutoutError, InvalidOptionError

__all__ = [
    "BLUR_RADIUS",
    "CANVAS_SIDE",
    "DEFAULT_EDGES",
    "EDGE_LEVELS",
    "FILL",
    "FORMAT_CHOICES",
    "MARGIN_CAP_PERCENT",
    "MARGIN_CAP_PX",
    "OUTPUT_FORMATS",
    "POSITION",
    "QUALITY",
    "SCALE",
    "THRESHOLD",
    "Background",
    "BlurBackground",
    "ColorBackground",
    "EdgeLevel",
    "FormatChoice",
    "ImageBackground",
    "Margin",
    "OutputFormat",
    "Position",
    "Range",
    "RemoveOptions",
    "Roi",
    "check_margin_cap",
    "is_transparent",
    "parse_background",
    "parse_background_color",
    "parse_canvas",
    "parse_edges",
    "parse_fill",
    "parse_format",
    "parse_margin",
    "parse_position",
    "parse_quality",
    "parse_roi",
    "parse_scale",
    "parse_threshold",
    "resolve_format",
]

OutputFormat = Literal["png", "webp", "jpg", "zip"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "webp", "jpg", "zip")
# what a caller may ask for: a format, or "auto" (see resolve_format)
FormatChoice = OutputFormat | Literal["auto"]
FORMAT_CHOICES: tuple[FormatChoice, ...] = ("auto", *OUTPUT_FORMATS)
# edge refinement (cutout.imaging.edges): off keeps the model's matte and the photo's
# colours; each later level is slower and finer
EdgeLevel = Literal["off", "fast", "balanced", "best"]
EDGE_LEVELS: tuple[EdgeLevel, ...] = ("off", "fast", "balanced", "best")
DEFAULT_EDGES: EdgeLevel = "balanced"


@dataclass(frozen=True)
class Range:
    """The allowed values of one numeric option: ``low..high``, both ends included unless
    ``low_open``. A value outside is an :class:`InvalidOptionError` with ``code``.

    Messages show each bound times ``factor`` followed by ``unit`` (a fraction that is
    written as a percentage shows as ``10%``).
    """

    low: float
    high: float
    code: str
    unit: str = ""
    factor: float = 1.0
    low_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def __str__(self) -> str:
        low = f"{self.low * self.factor:g}{self.unit}"
        high = f"{self.high * self.factor:g}{self.unit}"
        return f"above {low} and at most {high}" if self.low_open else f"between {low} and {high}"

    def check(self, value: float, what: str) -> float:
        """``value`` itself when it is in range; ``what`` names it in the error message."""
        if value not in self:
            raise InvalidOptionError(f"{what} must be {self}", code=self.code)
        return value


THRESHOLD = Range(0.0, 1.0, "invalid_threshold")
FILL = Range(0.05, 1.0, "invalid_fill")
SCALE = Range(0.1, 1.0, "invalid_scale", unit="%", factor=100.0)
POSITION = Range(0.0, 1.0, "invalid_position", unit="%", factor=100.0)
QUALITY = Range(1, 100, "invalid_quality")
CANVAS_SIDE = Range(8, 10000, "invalid_canvas", unit=" px")
BLUR_RADIUS = Range(0.0, 500.0, "invalid_bg_blur", unit=" px", low_open=True)
# remove.bg's cap on a crop margin: each side at most 500 px and at most 50 % of the
# subject's size. remove.bg's crop_margin refuses more (check_margin_cap); every
# layout clamps a margin to it (cutout.imaging.geometry).
MARGIN_CAP_PX = 500
MARGIN_CAP_PERCENT = 50.0


@dataclass(frozen=True)
class ColorBackground:
    rgba: tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class ImageBackground:
    """A background photo, cover-fitted behind the subject. ``rgb`` is H x W x 3 uint8."""

    rgb: ByteArray


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
    # edge refinement (cutout.imaging.edges): a finer alpha and clean edge colours
    edges: EdgeLevel = DEFAULT_EDGES
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
        if self.edges not in EDGE_LEVELS:
            raise _invalid_edges(self.edges)
        if self.threshold is not None:
            THRESHOLD.check(self.threshold, "threshold")
        FILL.check(self.fill, "fill")
        if self.scale is not None:
            SCALE.check(self.scale, "scale")
        QUALITY.check(self.quality, "quality")
        if isinstance(self.position, tuple):
            for value in self.position:
                POSITION.check(value, "position")
        if self.canvas is not None:
            for side in self.canvas:
                CANVAS_SIDE.check(side, "canvas sides")


def is_transparent(background: Background | None, *, mask: bool = False) -> bool:
    """Whether the output can have transparent pixels: a cut-out with no background or a
    see-through colour behind it. The mask and every opaque background have none."""
    if mask:
        return False
    if background is None:
        return True
    return isinstance(background, ColorBackground) and background.rgba[3] < 255


def resolve_format(
    choice: FormatChoice, *, background: Background | None, mask: bool = False
) -> OutputFormat:
    """The output format: ``auto`` is PNG when the output can have transparency
    (:func:`is_transparent`), else JPEG; any other choice is itself."""
    if choice != "auto":
        return choice
    return "png" if is_transparent(background, mask=mask) else "jpg"


def parse_format(text: str) -> FormatChoice:
    """``png``, ``webp``, ``jpg`` (or ``jpeg``), ``zip`` or ``auto``, in any case."""
    value = text.strip().lower()
    if value == "jpeg":
        value = "jpg"
    for choice in FORMAT_CHOICES:
        if value == choice:
            return choice
    raise InvalidOptionError(
        f"format must be {', '.join(FORMAT_CHOICES)}; not {value!r}", code="invalid_format"
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


def check_margin_cap(margin: Margin, what: str) -> Margin:
    """``margin`` itself when no side is over the cap (:data:`MARGIN_CAP_PX`, or
    :data:`MARGIN_CAP_PERCENT` for a margin in %), else ``invalid_crop_margin``."""
    cap, unit = (MARGIN_CAP_PERCENT, "%") if margin.percent else (MARGIN_CAP_PX, " px")
    if max(margin.top, margin.right, margin.bottom, margin.left) > cap:
        raise InvalidOptionError(f"{what}: at most {cap:g}{unit}", code="invalid_crop_margin")
    return margin


def parse_canvas(text: str) -> tuple[int, int]:
    """``"2000x2000"`` -> (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match is None:
        raise InvalidOptionError(
            f"canvas {text!r}: expected WIDTHxHEIGHT, e.g. 2000x2000", code="invalid_canvas"
        )
    width, height = int(match.group(1)), int(match.group(2))
    for side in (width, height):
        CANVAS_SIDE.check(side, f"canvas {text!r}: sides")
    return width, height


def parse_background_color(text: str) -> ColorBackground:
    return ColorBackground(parse_color(text))


def _looks_like_path(text: str) -> bool:
    return any(mark in text for mark in ("/", "\\", "."))


def parse_background(text: str, *, load_image: Callable[[str], ByteArray]) -> Background:
    """``"blur"``, ``"blur:R"``, a colour (hex or CSS name) or the path of an image.

    ``load_image`` reads a path into H x W x 3 uint8 (the CLI passes ``decode``); its
    CutoutError or OSError becomes an InvalidOptionError here.
    """
    value = text.strip()
    blur = re.fullmatch(r"blur(?::\s*" + _NUMBER + r")?", value, flags=re.IGNORECASE)
    if blur is not None:
        if blur.group(1) is None:
            return BlurBackground()
        radius = BLUR_RADIUS.check(float(blur.group(1)), f"background {text!r}: blur radius")
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


def _fraction(text: str, name: str, allowed: Range) -> float:
    """``"0.8"`` or ``"80%"`` -> 0.8, checked against ``allowed``."""
    match = re.fullmatch(r"\s*" + _NUMBER + r"\s*(%)?\s*", text)
    if match is None:
        raise InvalidOptionError(f"{name} {text!r}: expected a number or a %", code=allowed.code)
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    return allowed.check(value, f"{name} {text!r}:")


def parse_fill(text: str) -> float:
    """Canvas fill: ``"0.8"`` or ``"80%"`` (:data:`FILL`: from 5% to 100%)."""
    return _fraction(text, "fill", FILL)


def parse_threshold(text: str) -> float:
    """Hard alpha threshold: ``"0.5"`` or ``"50%"``."""
    return _fraction(text, "threshold", THRESHOLD)


def parse_edges(text: str) -> EdgeLevel:
    """An edge-refinement level: one of :data:`EDGE_LEVELS`."""
    value = text.strip().lower()
    for level in EDGE_LEVELS:
        if value == level:
            return level
    raise _invalid_edges(text)


def _invalid_edges(value: object) -> InvalidOptionError:
    return InvalidOptionError(
        f"edges must be one of {', '.join(EDGE_LEVELS)}, not {value!r}", code="invalid_edges"
    )


def parse_quality(text: str) -> int:
    """JPEG/WebP quality: ``"85"`` (:data:`QUALITY`: 1..100), rounded to a whole number."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise InvalidOptionError(
            f"quality must be a number, not {text!r}", code=QUALITY.code
        ) from None
    return round(QUALITY.check(value, f"quality {text!r}:"))


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
    return SCALE.check(float(match.group(1)) / 100.0, f"scale {text!r}:")


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
        if match is None or float(match.group(1)) / 100.0 not in POSITION:
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
