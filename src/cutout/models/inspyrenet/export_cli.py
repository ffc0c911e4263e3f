"""``cutout models export-onnx NAME [--weights PATH] [-o OUT.onnx]`` (registered by cli/models).

Without ``-o`` the graph goes to the cache location keyed by the weights' sha256, where
the torch backend picks it up and runs the CPU forward through ONNX Runtime.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register_export_onnx"]


def register_export_onnx(commands: _Subparsers) -> None:
    from cutout.models.registry import all_specs

    names = [spec.name for spec in all_specs() if spec.family == "inspyrenet"]
    parser = commands.add_parser(
        "export-onnx",
        help="export an InSPyReNet model to ONNX (CPU inference with ONNX Runtime)",
        description="Export an InSPyReNet checkpoint to an ONNX graph at the model's "
        "static size. Without -o it is written to the cache, where the torch backend "
        "uses it for CPU inference.",
    )
    parser.add_argument("name", choices=names, metavar="NAME")
    parser.add_argument("--weights", type=Path, metavar="PATH", help="checkpoint (default: cache)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT.onnx", help="output file")
    parser.set_defaults(func=_export_onnx)


def _export_onnx(args: argparse.Namespace) -> int:
    from cutout.models.inspyrenet.export import export_onnx, onnx_cache_path
    from cutout.models.registry import get_spec
    from cutout.models.weights import file_digest, resolve_weights, verify_file

    spec = get_spec(args.name)
    resolved = resolve_weights(spec, args.weights)
    sha256 = verify_file(spec, resolved.path) if resolved.verified else file_digest(resolved.path)
    output = args.output or onnx_cache_path(spec, sha256)
    export_onnx(spec, resolved.path, output)
    where = "the cache; CPU inference now uses ONNX Runtime" if args.output is None else output
    print(f"{spec.name}: exported {resolved.path} (sha256 {sha256}) to {output} ({where})")
    return 0
