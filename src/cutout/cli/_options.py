"""Turn ``cutout remove``'s flags into one :class:`RemoveOptions` (parsers: cutout.options).

:func:`add_edge_flags` defines ``--edges`` and its deprecated spelling ``--refine-edges``
once, for every command that builds options with :func:`build_options`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from cutout.arrays import ByteArray
from cutout.errors import InvalidOptionError
from cutout.options import (
    DEFAULT_EDGES,
    EDGE_LEVELS,
    OUTPUT_FORMATS,
    EdgeLevel,
    Margin,
    RemoveOptions,
    parse_background,
    parse_canvas,
    parse_fill,
    parse_margin,
    parse_threshold,
)

__all__ = ["add_edge_flags", "build_options", "edge_level"]


class _RefineEdges(argparse.Action):
    """``--refine-edges``, the flag from before edge levels: ``--edges best``, with a note."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print("cutout: --refine-edges is deprecated; it means --edges best", file=sys.stderr)
        setattr(namespace, self.dest, True)


def add_edge_flags(group: argparse._ArgumentGroup) -> None:
    """``--edges LEVEL`` and the deprecated ``--refine-edges`` (``--edges`` wins)."""
    group.add_argument(
        "--edges",
        choices=EDGE_LEVELS,
        help=f"edge refinement for fur and hair, off to best (default: {DEFAULT_EDGES})",
    )
    group.add_argument(
        "--refine-edges", action=_RefineEdges, help="deprecated: the same as --edges best"
    )


def edge_level(args: argparse.Namespace) -> EdgeLevel:
    """``--edges`` when given, else ``best`` for ``--refine-edges``, else the default."""
    if args.edges is not None:
        level: EdgeLevel = args.edges
        return level
    return "best" if args.refine_edges else DEFAULT_EDGES


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
        edges=edge_level(args),
        format=fmt,
    )
