"""The image flags of ``cutout remove`` (which ``cutout batch`` takes too): their one
definition, and what they turn into: one :class:`RemoveOptions` (parsers:
cutout.options) and the engine's :class:`Settings`.

:func:`add_edge_flags` defines ``--edges`` and its deprecated spelling ``--refine-edges``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from cutout.config import Settings

__all__ = [
    "add_edge_flags",
    "add_remove_options",
    "build_options",
    "edge_level",
    "settings_from_args",
]


def add_remove_options(parser: argparse.ArgumentParser, *, format_help: str) -> None:
    """The model and output flags, as groups of ``parser``; ``format_help`` says where
    the command's default format comes from."""
    from cutout.cli._choices import add_device_flag, add_quality_flag, add_require_gpu_flag
    from cutout.models.registry import model_names

    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=model_names(), help="default: u2netp or CUTOUT_MODEL")
    model.add_argument(
        "--weights", type=Path, metavar="PATH", help="weights file (or CUTOUT_WEIGHTS)"
    )
    add_quality_flag(model)
    add_device_flag(model)
    add_require_gpu_flag(model)
    model.add_argument(
        "--resize", choices=("static", "dynamic"), help="model input size policy (default: model's)"
    )
    model.add_argument(
        "--max-megapixels", type=float, metavar="MP", help="refuse larger images (default 50)"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--mask", action="store_true", help="write the alpha mask only")
    output.add_argument(
        "--bg", metavar="COLOR|IMAGE|blur", help="background: colour, image file or 'blur'"
    )
    output.add_argument("--crop", action="store_true", help="crop to the subject")
    output.add_argument("--margin", metavar="N|N%", help="crop margin, px or %% (with --crop)")
    output.add_argument("--canvas", metavar="WxH", help="place the subject on a WxH canvas")
    output.add_argument(
        "--fill", metavar="F", help="subject's share of the canvas: 0.8 or 80%% (default)"
    )
    output.add_argument("--shadow", action="store_true", help="add a soft drop shadow")
    output.add_argument("--format", choices=OUTPUT_FORMATS, help=format_help)
    output.add_argument("--threshold", metavar="T", help="hard alpha at T: 0.5 or 50%%")
    output.add_argument("--invert", action="store_true", help="keep the background instead")
    add_edge_flags(output)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The environment's settings with the model flags over them."""
    from cutout.config import load_settings

    return load_settings(
        model=args.model,
        quality=args.quality,
        weights=args.weights,
        device=args.device,
        require_gpu=args.require_gpu,
        resize=args.resize,
        max_megapixels=args.max_megapixels,
    )


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
