"""Colour parsing: hex (3, 4, 6 or 8 digits, with or without ``#``), CSS colour names and
CSS functional forms (``rgb(…)``, ``rgba(…)``, ``hsl(…)``)."""

from __future__ import annotations

import re

from PIL import ImageColor

from cutout.errors import InvalidOptionError

__all__ = ["parse_color"]

_HEX = re.compile(r"#?([0-9a-fA-F]{3,8})")
_FUNCTIONS = ("rgb(", "rgba(", "hsl(", "hsv(", "hsb(")


def parse_color(text: str) -> tuple[int, int, int, int]:
    """``"81d4fa"``, ``"#fff"``, ``"ff000080"`` or ``"white"`` -> (r, g, b, a)."""
    value = text.strip()
    match = _HEX.fullmatch(value)
    if match is not None and len(match.group(1)) in (3, 4, 6, 8):
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        if len(channels) == 3:
            channels.append(255)
        return (channels[0], channels[1], channels[2], channels[3])
    name = value.lower()
    if name in ImageColor.colormap:
        red, green, blue = ImageColor.getrgb(name)[:3]
        return (red, green, blue, 255)
    if name == "transparent":
        return (0, 0, 0, 0)
    if name.startswith(_FUNCTIONS):
        try:
            parsed = ImageColor.getrgb(name)
        except ValueError:
            pass
        else:
            alpha = parsed[3] if len(parsed) == 4 else 255
            return (parsed[0], parsed[1], parsed[2], alpha)
    raise InvalidOptionError(
        f"{text!r} is not a colour: use hex (81d4fa, #fff, 8-digit with alpha) or a CSS name",
        code="invalid_bg_color",
    )
