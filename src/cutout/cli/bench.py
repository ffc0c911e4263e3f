"""``cutout bench``: per-stage medians of the engine on the bundled examples or given files.

A quick check of one machine, not the project benchmark (that is ``bench/``): each file
is run ``--runs`` times after one warm-up, and the median of each stage is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

__all__ = ["example_photos", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cutout.cli._choices import add_device_flag, add_quality_flag, add_require_gpu_flag
    from cutout.models.registry import model_names
    from cutout.options import DEFAULT_EDGES, EDGE_LEVELS, OUTPUT_FORMATS

    parser = subparsers.add_parser(
        "bench",
        help="time the engine per stage",
        description="Per-stage medians (ms) of the engine on the examples or FILEs.",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE")
    parser.add_argument("--model", choices=model_names(), help="default: u2netp or CUTOUT_MODEL")
    parser.add_argument("--weights", type=Path, metavar="PATH")
    add_quality_flag(parser)
    add_device_flag(parser)
    add_require_gpu_flag(parser)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per file (default 5)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="png")
    parser.add_argument(
        "--edges",
        choices=EDGE_LEVELS,
        default=DEFAULT_EDGES,
        help=f"edge refinement level (default: {DEFAULT_EDGES})",
    )
    parser.set_defaults(func=run)


def example_photos() -> list[Path]:
    """``examples/*.jpg`` in the working directory or beside the source checkout."""
    for folder in (Path("examples"), Path(__file__).resolve().parents[3] / "examples"):
        photos = sorted(folder.glob("*.jpg"))
        if photos:
            return photos
    return []


def run(args: argparse.Namespace) -> int:
    from cutout.config import load_settings
    from cutout.engine import STAGES, Engine
    from cutout.options import RemoveOptions

    if args.runs < 1:
        print("cutout: error: --runs must be at least 1", file=sys.stderr)
        return 2
    files: list[Path] = args.files or example_photos()
    if not files:
        print("cutout: error: no examples/*.jpg here; pass image files", file=sys.stderr)
        return 2
    settings = load_settings(
        model=args.model,
        quality=args.quality,
        weights=args.weights,
        device=args.device,
        require_gpu=args.require_gpu,
    )
    options = RemoveOptions(format=args.format, edges=args.edges)
    rows = [["image", "size", *STAGES, "total"]]
    with Engine.from_settings(settings) as engine:
        engine.load()
        warmup = engine.warmup()
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                print(f"cutout: {path}: {exc.strerror or exc}", file=sys.stderr)
                return 1
            engine.remove(data, options)  # warm caches for this size
            samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
            width = height = 0
            for _ in range(args.runs):
                result = engine.remove(data, options)
                width, height = result.width, result.height
                for stage in STAGES:
                    samples[stage].append(result.timings.get(stage, 0.0))
                samples["total"].append(sum(result.timings.values()))
            size = f"{width}x{height} ({width * height / 1e6:.1f} MP)"
            medians = [f"{statistics.median(samples[s]) * 1000:.1f}" for s in (*STAGES, "total")]
            rows.append([path.name, size, *medians])
        device = engine.device
        print(
            f"model {engine.spec.name} on {device.kind} ({device.name}, "
            f"{device.threads or '?'} threads); load {engine.stats.load_seconds * 1000:.0f} ms, "
            f"warm-up {warmup * 1000:.0f} ms; edges {args.edges}; medians of {args.runs} runs in ms"
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    return 0
