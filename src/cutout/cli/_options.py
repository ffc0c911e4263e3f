"""Turn ``cutout remove``'s flags into one :class:`RemoveOptions` (parsers: cutout.options)."""

from __future__ import annotations

import argparse

from cutout.arrays import ByteArray
from cutout.errors import InvalidOptionError
from cutout.options import (
    DEFAULT_EDGES,
    OUTPUT_FORMATS,
    Margin,
    RemoveOptions,
    parse_background,
    parse_canvas,
    parse_fill,
    parse_margin,
    parse_threshold,
)

__all__ = ["build_options"]


def _load_background(path: str) -> ByteArray:
    from cutout.imaging.decode import decode

    return decode(path).rgb


def build_options(args: argparse.Namespace, fmt: str) -> RemoveOptions:
    """Raises :class:`InvalidOptionError` (a usage error for the CLI) on a bad value."""
    if args.margin is not None and not args.crop:
        raise InvalidOptionError("--margin needs --crop", code="invalid_crop_margin")
    if args.fill is not None and args.canvas is None:
        raise InvalidOptionError("--fill needs --canvas", code="invalid_fill")
    if fmt not in OUTPUT_FORMATS:
        raise InvalidOptionError(f"unknown format {fmt!r}", code="invalid_format")
    return RemoveOptions(
        mask=args.mask,
        background=parse_background(args.bg, load_image=_load_background) if args.bg else None,
        threshold=parse_threshold(args.threshold) if args.threshold is not None else None,
        invert=args.invert,
        crop=args.crop,
        margin=parse_margin(args.margin) if args.margin is not None else Margin(),
        canvas=parse_canvas(args.canvas) if args.canvas is not None else None,
        fill=parse_fill(args.fill) if args.fill is not None else 0.8,
        shadow=args.shadow,
        edges="best" if args.refine_edges else DEFAULT_EDGES,
        format=fmt,
    )
