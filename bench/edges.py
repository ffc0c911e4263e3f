"""What each edge-refinement level costs next to the model, in the same run.

    .venv/bin/python bench/edges.py                         # the 8 MP photo, 7 rounds
    .venv/bin/python bench/edges.py --photos animal-1.jpg aeroplane.jpg --rounds 5
    .venv/bin/python bench/edges.py --torch-device cuda     # the torch path beside it

For each photo (../shared/images), each round times the u2netp forward (the engine's
``infer`` stage) and then every level of ``cutout.imaging.edges.refine_edges`` on that
forward's matte, with edge colours (a cut-out's cost). Rounds interleave the
measurements so a busy machine slows them alike. Prints per-level medians and their
ratio to the forward's median, and which levels fit the rule the default is chosen by:
the refinement adds at most the model's forward time on the 8 MP photo.

``--torch-device cpu|cuda`` also times ``cutout.backends.torch_edges`` (the edge stage
beside a model on a GPU) on that device, in the same rounds, after one untimed warm-up
refinement per level (kernels, allocator); a column beside each level's numpy time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cutout import Engine
from cutout.arrays import ByteArray
from cutout.imaging.decode import decode
from cutout.imaging.edges import refine_edges
from cutout.imaging.tensor import saliency_to_matte8
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS, EdgeLevel

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "images"


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load average {load:.1f}"


def _torch_refiner(device: str) -> Callable[[ByteArray, ByteArray, EdgeLevel], object]:
    """The torch path on ``device``, synchronised so that its time is the device's."""
    import torch

    from cutout.backends.torch_edges import refine_edges_torch

    def refine(rgb: ByteArray, matte: ByteArray, level: EdgeLevel) -> object:
        edges = refine_edges_torch(rgb, matte, level, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return edges

    return refine


def measure(
    photo: Path, rounds: int, engine: Engine, torch_device: str | None = None
) -> dict[str, float]:
    image = decode(photo.read_bytes())
    prepared = engine.prepare(image)
    times: dict[str, list[float]] = {"forward": [], **{level: [] for level in EDGE_LEVELS}}
    on_torch = None if torch_device is None else _torch_refiner(torch_device)
    if on_torch is not None:
        times.update({f"torch {level}": [] for level in EDGE_LEVELS})
        warm = saliency_to_matte8(
            engine.infer([prepared])[0], engine.spec, image.width, image.height
        )
        for level in EDGE_LEVELS:
            on_torch(image.rgb, warm, level)
    for _ in range(rounds):
        start = time.perf_counter()
        saliency = engine.infer([prepared])[0]
        times["forward"].append(time.perf_counter() - start)
        matte = saliency_to_matte8(saliency, engine.spec, image.width, image.height)
        for level in EDGE_LEVELS:
            start = time.perf_counter()
            refine_edges(image.rgb, matte, level)
            times[level].append(time.perf_counter() - start)
            if on_torch is not None:
                start = time.perf_counter()
                on_torch(image.rgb, matte, level)
                times[f"torch {level}"].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=["aeroplane.jpg"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--torch-device",
        choices=["cpu", "cuda"],
        help="also time the torch edge path (cutout.backends.torch_edges) on this device",
    )
    args = parser.parse_args(argv)
    engine = Engine("u2netp")
    engine.warmup()
    print(f"machine: {_machine()}; default level: {DEFAULT_EDGES}")
    for name in args.photos:
        photo = IMAGES / name
        medians = measure(photo, args.rounds, engine, args.torch_device)
        forward = medians["forward"]
        torch_heading = f"  {'torch ' + args.torch_device + ' ms':>15}" if args.torch_device else ""
        print(f"\n{name}: median of {args.rounds} rounds")
        print(f"{'stage':<10} {'ms':>8} {'x forward':>10}  fits{torch_heading}")
        print(f"{'forward':<10} {forward * 1000:8.0f} {1.0:10.2f}")
        for level in EDGE_LEVELS:
            ratio = medians[level] / forward
            fits = "yes" if ratio <= 1.0 else "no "
            on_torch = medians.get(f"torch {level}")
            torch_column = "" if on_torch is None else f"  {on_torch * 1000:15.0f}"
            print(f"{level:<10} {medians[level] * 1000:8.0f} {ratio:10.2f}  {fits}{torch_column}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
