"""remove.bg's request parameters -> a size cap and :class:`RemoveOptions`.

Names, values and error codes follow remove.bg's public API (its OpenAPI description,
version 1.0), so that clients written for remove.bg work unchanged; docs/api.md lists
each parameter and what cutout does with it. Everything that can be checked without the
image is checked before the image is read.

One extension: ``edges`` (cutout's edge refinement level, as in the native API). Other
names remove.bg does not know are ignored, as before, so that a client sending a newer
remove.bg parameter still gets an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cutout.errors import InvalidOptionError
from cutout.options import (
    DEFAULT_EDGES,
    Background,
    EdgeLevel,
    FormatChoice,
    Margin,
    Position,
    RemoveOptions,
    Roi,
    check_margin_cap,
    parse_background_color,
    parse_edges,
    parse_format,
    parse_margin,
    parse_position,
    parse_roi,
    parse_scale,
    resolve_format,
)
from cutout.server.params import Params

__all__ = ["SIZES", "TYPES", "RemoveBgRequest", "parse_request"]

# size name -> the most megapixels of the processed image (None: the server's limit)
SIZES: dict[str, float | None] = {
    "preview": 0.25,
    "small": 0.25,
    "regular": 0.25,
    "medium": 1.5,
    "hd": 4.0,
    "4k": 10.0,
    "full": 25.0,
    "50mp": 50.0,
    "auto": None,
}
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation", "other")
TYPE_LEVELS = ("none", "1", "2", "latest")
CHANNELS = ("rgba", "alpha")
# semitransparency=false: the matte is made hard at this level (no see-through pixels)
OPAQUE_THRESHOLD = 0.5


@dataclass(frozen=True, eq=False)
class RemoveBgRequest:
    """The parsed parameters, before the image and background bytes are known."""

    max_megapixels: float | None  # from size
    type: str
    format: FormatChoice
    channels: str
    crop: bool
    margin: Margin | None
    roi: Roi | None
    scale: float | None
    position: Position | None
    background: Background | None  # a colour; an image background is added later
    shadow: bool
    semitransparency: bool
    edges: EdgeLevel  # cutout's extension

    def options(self, background: Background | None = None) -> RemoveOptions:
        """The options, with ``background`` (a decoded photo) in place of ``bg_color``."""
        background = background if background is not None else self.background
        mask = self.channels == "alpha"
        # the matte alone is answered as PNG unless a format is asked for
        choice: FormatChoice = "png" if mask and self.format == "auto" else self.format
        fields: dict[str, Any] = {
            "mask": mask,
            "background": None if mask else background,
            "threshold": None if self.semitransparency else OPAQUE_THRESHOLD,
            "crop": self.crop,
            "roi": self.roi,
            "scale": self.scale,
            "position": self.position,
            "shadow": self.shadow,
            "edges": self.edges,
            "format": resolve_format(choice, background=background, mask=mask),
            "require_foreground": True,
        }
        if self.margin is not None:
            fields["margin"] = self.margin
        return RemoveOptions(**fields)


def _choice(params: Params, name: str, choices: tuple[str, ...], default: str) -> str:
    value = (params.get(name) or default).strip().lower()
    if value not in choices:
        raise InvalidOptionError(
            f"{name} must be one of {', '.join(choices)}; got {params.get(name)!r}",
            code=f"invalid_{name}",
        )
    return value


def _margin(text: str | None) -> Margin | None:
    if not text:
        return None
    return check_margin_cap(parse_margin(text), f"crop_margin {text!r}")


def parse_request(params: Params) -> RemoveBgRequest:
    """Every parameter except the sources, checked; raises InvalidOptionError."""
    size = _choice(params, "size", tuple(SIZES), "auto")
    fmt = parse_format(params.get("format") or "auto")
    type_ = _choice(params, "type", TYPES, "auto")
    _choice(params, "type_level", TYPE_LEVELS, "latest")
    channels = _choice(params, "channels", CHANNELS, "rgba")
    roi_text = params.get("roi")
    scale_text = params.get("scale")
    position_text = params.get("position")
    color_text = params.get("bg_color")
    background: Background | None = None
    if color_text:
        try:
            background = parse_background_color(color_text.strip().removeprefix("#"))
        except InvalidOptionError as exc:
            raise InvalidOptionError(exc.message, code="invalid_bg_color") from exc
    return RemoveBgRequest(
        max_megapixels=SIZES[size],
        type=type_,
        format=fmt,
        channels=channels,
        crop=params.flag("crop"),
        margin=_margin(params.get("crop_margin")),
        roi=parse_roi(roi_text) if roi_text else None,
        scale=parse_scale(scale_text) if scale_text else None,
        position=parse_position(position_text) if position_text else None,
        background=background,
        shadow=params.flag("add_shadow"),
        semitransparency=params.flag("semitransparency", default=True),
        edges=parse_edges(params.get("edges") or DEFAULT_EDGES),
    )
