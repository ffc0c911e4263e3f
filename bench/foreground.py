"""Edge refinement (foreground colour estimation) at 1, 4 and 8 MP: fast path vs full resolution.

For each size, the photo is resized (Lanczos) to that many megapixels and its matte is
computed by the embedded u2netp model; then, in the same run:

* ``refine_foreground``: the multi-level solve on a copy of at most ``--work-size`` px per
  side, finished per pixel at full resolution, only where 0 < alpha < 1 (what the
  edge stage, ``cutout.imaging.edges``, runs for the colours);
* the straightforward way: ``estimate_foreground_ml`` on the full-resolution image (the
  same method, vectorised, over every pixel and every level).

A second table times ``compose`` itself for each output mode on the largest size (the
"refined colours" rows include ``refine_foreground``, whose colours compose then uses).

Prints medians (wall, and this process's CPU time, which the other jobs on a shared
machine disturb less), the speed-up, and how far apart the two answers are on the soft edge
(mean absolute difference in 8-bit levels).

    .venv/bin/python bench/foreground.py                    # 1 4 8 MP, 3 runs each
    .venv/bin/python bench/foreground.py --sizes 1 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from cutout.arrays import ByteArray, FloatArray
from cutout.engine import Engine
from cutout.imaging.compose import compose
from cutout.imaging.decode import DecodedImage, decode
from cutout.imaging.foreground import WORK_SIZE, estimate_foreground_ml, refine_foreground
from cutout.options import BlurBackground, ColorBackground, ImageBackground, Margin, RemoveOptions

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "images" / "animal-1.jpg"
BACKGROUND = REPO.parent / "shared" / "images" / "background.jpg"


def _modes() -> dict[str, RemoveOptions]:
    white = ColorBackground((255, 255, 255, 255))
    return {
        "cut-out (RGBA)": RemoveOptions(),
        "mask": RemoveOptions(mask=True),
        "white background": RemoveOptions(background=white),
        "image background": RemoveOptions(background=ImageBackground(decode(BACKGROUND).rgb)),
        "blurred background": RemoveOptions(background=BlurBackground()),
        "crop, margin 5%": RemoveOptions(crop=True, margin=Margin(5, 5, 5, 5, percent=True)),
        "canvas 2000x2000 white": RemoveOptions(canvas=(2000, 2000), background=white),
        "shadow on white": RemoveOptions(shadow=True, background=white),
    }


# the modes whose subject colours come from refine_foreground first
_REFINED: dict[str, RemoveOptions] = {
    "refined colours": RemoveOptions(),
    "refined+canvas+shadow": RemoveOptions(
        canvas=(2000, 2000), shadow=True, background=ColorBackground((255, 255, 255, 255))
    ),
}


def _compose_table(rgb: ByteArray, matte: FloatArray, runs: int) -> None:
    height, width = matte.shape
    print(f"\ncompose() on {width}x{height}, median of {runs} runs")
    header = f"{'mode':<24} {'wall s':>7} {'cpu s':>7}"
    print(header)
    print("-" * len(header))
    for name, options in _modes().items():
        wall, cpu, _ = _median_seconds(lambda options=options: compose(rgb, matte, options), runs)
        print(f"{name:<24} {wall:7.3f} {cpu:7.3f}", flush=True)
    for name, options in _REFINED.items():
        wall, cpu, _ = _median_seconds(
            lambda options=options: compose(
                rgb, matte, options, colours=refine_foreground(rgb, matte)
            ),
            runs,
        )
        print(f"{name:<24} {wall:7.3f} {cpu:7.3f}", flush=True)


def _median_seconds(call: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall and CPU (this process) seconds of ``runs`` calls, and the last result."""
    walls: list[float] = []
    cpus: list[float] = []
    result: object = None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus), result


def _resized(rgb: ByteArray, megapixels: float) -> ByteArray:
    height, width = rgb.shape[:2]
    factor = (megapixels * 1e6 / (width * height)) ** 0.5
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=PHOTO)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--work-size", type=int, default=WORK_SIZE)
    parser.add_argument("--no-compose", action="store_true", help="skip the compose table")
    args = parser.parse_args()

    source = decode(args.image).rgb
    engine = Engine("u2netp", device="cpu")
    print(f"photo {args.image.name}, work size {args.work_size} px, median of {args.runs} runs")
    header = (
        f"{'MP':>5} {'size':>11} {'soft %':>7} {'fast s':>7} {'(cpu)':>7} "
        f"{'full-res s':>10} {'(cpu)':>7} {'speed-up':>9} {'|fast-full| 8-bit':>18}"
    )
    print(header)
    print("-" * len(header))
    rgb = matte = None
    with engine:
        for megapixels in args.sizes:
            rgb = _resized(source, megapixels)
            matte = engine.matte(DecodedImage(rgb=rgb, alpha=None, format="PNG"))
            soft = (matte > 0.5 / 255) & (matte < 1 - 0.5 / 255)
            fast_seconds, fast_cpu, fast = _median_seconds(
                lambda rgb=rgb, matte=matte: refine_foreground(
                    rgb, matte, work_size=args.work_size
                ),
                args.runs,
            )
            image = rgb.astype(np.float32) / np.float32(255.0)
            full_seconds, full_cpu, full = _median_seconds(
                lambda image=image, matte=matte: estimate_foreground_ml(image, matte),
                args.baseline_runs,
            )
            assert isinstance(fast, np.ndarray) and isinstance(full, tuple)
            full_bytes = np.clip(full[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
            difference = np.abs(fast.astype(np.int16) - full_bytes)[soft].mean()
            height, width = matte.shape
            print(
                f"{megapixels:5.1f} {width:>5}x{height:<5} {soft.mean() * 100:6.1f}% "
                f"{fast_seconds:7.3f} {fast_cpu:7.3f} {full_seconds:10.3f} {full_cpu:7.3f} "
                f"{full_seconds / fast_seconds:8.1f}x {difference:18.2f}",
                flush=True,
            )
    if rgb is not None and matte is not None and not args.no_compose:
        _compose_table(rgb, matte, args.runs)


if __name__ == "__main__":
    main()
