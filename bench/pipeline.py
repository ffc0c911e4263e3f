"""The whole u2netp pipeline, bytes in to PNG bytes out: cutout against the straightforward way.

For each photo (0.2 to 8 MP, from ../shared/images) and in the same run:

* **cutout**: ``Engine("u2netp").remove(data)``, per-stage medians from its timings
  (decode, preprocess, infer, postprocess, compose, encode);
* **plain** (straightforward): what most tools do, with the same model session: Pillow decode
  (EXIF transpose, ICC to sRGB with ImageCms so that the output is the same picture),
  Pillow Lanczos to 320, the reference normalisation, the same forward, min-max, Pillow
  Lanczos back to full size, ``putalpha``, Pillow PNG at its default level (6);
* **plain-c**: the same, with the colour under alpha 0 cleared first, as in cutout's PNG
  (and rembg's): the very same picture as cutout's, and a much cheaper PNG to deflate;
* **rembg** (peer figure), when ``bench/.venvs/rembg`` exists: ``rembg.remove(data)``
  with the same u2netp.onnx, in a subprocess. Create it with::

      python -m venv bench/.venvs/rembg
      bench/.venvs/rembg/bin/pip install rembg onnxruntime

Prints one table per photo (median ms per stage, the ratio straightforward / cutout) and
a summary. Runs of the variants interleave, so that other work on the machine slows
each alike. "Equal output" is checked, not assumed: both PNGs are decoded and compared
(mean absolute alpha and colour difference, in 8-bit levels). Wall times are noisy when
other work shares the machine; run with more ``--runs`` for steadier medians. "CPU
total" is this process's CPU time (every thread, the model's included): steadier under
load, and an upper bound for cutout's wall time on an idle machine with spare cores.

    .venv/bin/python bench/pipeline.py                      # 5 photos, 5 runs each
    .venv/bin/python bench/pipeline.py --runs 3 --images aeroplane.jpg
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, ImageOps

from cutout.engine import STAGES, Engine
from cutout.models.registry import get_spec

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "images"
DEFAULT_IMAGES = (
    "girl-1.jpg",
    "animal-1.jpg",
    "background.jpg",
    "plants-1-really-png.jpg",
    "aeroplane.jpg",
)
REMBG_VENV = REPO / "bench" / ".venvs" / "rembg"
MODEL_FILE = REPO / "src" / "cutout" / "models" / "data" / "u2netp.onnx"

Stages = dict[str, float]
_OPAQUE = [0] + [255] * 255  # a lookup table: visible (alpha > 0) -> 255


def _straightforward(engine: Engine, data: bytes, clear: bool) -> tuple[bytes, Stages]:
    """The usual Pillow pipeline, stage by stage, on the engine's own backend."""
    times: Stages = {}
    spec = engine.spec
    start = time.perf_counter()
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        icc = image.info.get("icc_profile")
        if icc:
            image = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGB",
            )
        image = image.convert("RGB")
    mark = time.perf_counter()
    times["decode"], start = mark - start, mark

    small = np.asarray(image.resize((320, 320), Image.Resampling.LANCZOS), dtype=np.float32)
    small = small / max(float(small.max()), 1e-6)
    tensor = ((small - np.asarray(spec.mean)) / np.asarray(spec.std)).transpose(2, 0, 1)
    batch = np.ascontiguousarray(tensor[None], dtype=np.float32)
    mark = time.perf_counter()
    times["preprocess"], start = mark - start, mark

    saliency = engine.backend.predict(batch)[0]
    mark = time.perf_counter()
    times["infer"], start = mark - start, mark

    low, high = float(saliency.min()), float(saliency.max())
    normalised = (saliency - low) / (high - low + 1e-8)
    mask = Image.fromarray((normalised * 255).astype(np.uint8), "L")
    mask = mask.resize(image.size, Image.Resampling.LANCZOS)
    mark = time.perf_counter()
    times["postprocess"], start = mark - start, mark

    if clear:
        # the colour under alpha 0 cleared, as in cutout's PNG (rembg's Image.composite
        # with an empty image does this too, but also darkens the soft edges)
        cutout = Image.composite(image, Image.new("RGB", image.size), mask.point(_OPAQUE))
    else:
        cutout = image.copy()
    cutout.putalpha(mask)
    mark = time.perf_counter()
    times["compose"], start = mark - start, mark

    buffer = io.BytesIO()
    cutout.save(buffer, "PNG")
    times["encode"] = time.perf_counter() - start
    return buffer.getvalue(), times


def _medians(samples: list[Stages]) -> Stages:
    return {stage: statistics.median(sample[stage] for sample in samples) for stage in STAGES}


Measured = tuple[bytes, Stages, float, float]  # output, stage medians, wall, CPU seconds


def _run(calls: list[Callable[[], tuple[bytes, Stages]]], runs: int) -> list[Measured]:
    """Median stages and totals of each call; runs interleave, so that load from other
    work on the machine falls on every variant alike."""
    samples: list[list[Stages]] = [[] for _ in calls]
    totals: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    outputs = [b""] * len(calls)
    for _ in range(runs):
        for index, call in enumerate(calls):
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[index], stages = call()
            totals[index].append(time.perf_counter() - start)
            cpu[index].append(time.process_time() - start_cpu)
            samples[index].append(stages)
    return [
        (
            outputs[index],
            _medians(samples[index]),
            statistics.median(totals[index]),
            statistics.median(cpu[index]),
        )
        for index in range(len(calls))
    ]


def _pixels(png: bytes) -> npt.NDArray[np.int16]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.int16)


def _rembg(paths: list[Path], runs: int) -> dict[str, float] | str:
    python = REMBG_VENV / "bin" / "python"
    if not python.exists():
        return (
            f"skipped: no {REMBG_VENV.relative_to(REPO)} (python -m venv "
            f"{REMBG_VENV.relative_to(REPO)} && {REMBG_VENV.relative_to(REPO)}/bin/pip "
            "install rembg onnxruntime)"
        )
    script = textwrap.dedent(
        """
        import json, statistics, sys, time
        from rembg import new_session, remove
        session = new_session("u2netp")
        paths, runs = json.loads(sys.argv[1]), int(sys.argv[2])
        result = {}
        for path in paths:
            data = open(path, "rb").read()
            remove(data, session=session)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                remove(data, session=session)
                times.append(time.perf_counter() - start)
            result[path] = statistics.median(times)
        print(json.dumps(result))
        """
    )
    with tempfile.TemporaryDirectory() as home:
        shutil.copyfile(MODEL_FILE, Path(home) / "u2netp.onnx")
        env = {**os.environ, "U2NET_HOME": home, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
        done = subprocess.run(
            [str(python), "-c", script, json.dumps([str(p) for p in paths]), str(runs)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=1800,
        )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    timings: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {Path(path).name: seconds for path, seconds in timings.items()}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=list(DEFAULT_IMAGES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-rembg", action="store_true", help="skip the rembg peer figure")
    args = parser.parse_args()

    engine = Engine(get_spec("u2netp"), device="cpu")
    engine.load()
    engine.warmup()
    paths = [IMAGES / name for name in args.images]
    print(f"cutout {engine.spec.name} on {engine.device.name}, {args.runs} runs, median ms")
    rows = [_compare(engine, path, args.runs) for path in paths]
    peer = {} if args.no_rembg else _rembg(paths, args.runs)
    print("\nsummary: median ms per image, bytes in -> PNG bytes out; x = time / cutout's")
    print(
        f"{'photo':<24}{'MP':>5}{'cutout':>8}{'plain':>8}{'x':>6}{'plain-c':>8}{'x':>6}"
        f"{'rembg':>8}{'x':>6}{'non-fwd':>8}{'fwd':>8}"
    )
    for row in rows:
        rembg_s = peer.get(row.name) if isinstance(peer, dict) else None
        rembg = f"{_ms(rembg_s)}{rembg_s / row.ours:6.1f}" if rembg_s else f"{'-':>8}{'-':>6}"
        print(
            f"{row.name:<24}{row.megapixels:5.1f}{_ms(row.ours)}{_ms(row.plain)}"
            f"{row.plain / row.ours:6.1f}{_ms(row.plain_clear)}{row.plain_clear / row.ours:6.1f}"
            f"{rembg}{_ms(row.not_forward)}{_ms(row.forward)}"
        )
    if isinstance(peer, str):
        print(f"rembg: {peer}")


@dataclass(frozen=True)
class Row:
    name: str
    megapixels: float
    ours: float
    plain: float
    plain_clear: float
    not_forward: float
    forward: float


def _compare(engine: Engine, path: Path, runs: int) -> Row:
    data = path.read_bytes()
    engine.remove(data)  # first call: lazy imports, thread pools

    def ours() -> tuple[bytes, Stages]:
        result = engine.remove(data)
        return result.data, result.timings

    measured = _run(
        [
            ours,
            lambda: _straightforward(engine, data, False),
            lambda: _straightforward(engine, data, True),
        ],
        runs,
    )
    ours_png, fast, fast_total, fast_cpu = measured[0]
    plain_png, plain, plain_total, plain_cpu = measured[1]
    clear_png, clear, clear_total, clear_cpu = measured[2]
    ours_px, clear_px = _pixels(ours_png), _pixels(clear_png)
    alpha_diff = float(np.abs(ours_px[..., 3] - clear_px[..., 3]).mean())
    colour_diff = float(np.abs(ours_px[..., :3] - clear_px[..., :3]).mean())
    height, width = ours_px.shape[:2]
    print(
        f"\n{path.name}: {width}x{height} = {width * height / 1e6:.1f} MP, "
        f"{len(data) / 1e6:.2f} MB in"
    )
    print(f"{'stage':<12}{'cutout':>8}{'plain':>8}{'x':>6}{'plain-c':>8}{'x':>6}")
    for stage in STAGES:
        base = max(fast[stage], 1e-6)
        print(
            f"{stage:<12}{_ms(fast[stage])}{_ms(plain[stage])}{plain[stage] / base:6.1f}"
            f"{_ms(clear[stage])}{clear[stage] / base:6.1f}"
        )
    print(
        f"{'total':<12}{_ms(fast_total)}{_ms(plain_total)}{plain_total / fast_total:6.1f}"
        f"{_ms(clear_total)}{clear_total / fast_total:6.1f}"
    )
    print(
        f"{'CPU total':<12}{_ms(fast_cpu)}{_ms(plain_cpu)}{plain_cpu / fast_cpu:6.1f}"
        f"{_ms(clear_cpu)}{clear_cpu / fast_cpu:6.1f}"
    )
    not_forward = sum(fast[stage] for stage in STAGES if stage != "infer")
    print(
        f"all but the forward: {not_forward * 1000:.0f} ms; the forward: "
        f"{fast['infer'] * 1000:.0f} ms"
    )
    print(
        f"PNG MB: cutout {len(ours_png) / 1e6:.2f}, plain {len(plain_png) / 1e6:.2f}, "
        f"plain-c {len(clear_png) / 1e6:.2f}; cutout vs plain-c mean |diff|: alpha "
        f"{alpha_diff:.2f}, colour {colour_diff:.2f} (8-bit levels)"
    )
    return Row(
        name=path.name,
        megapixels=width * height / 1e6,
        ours=fast_total,
        plain=plain_total,
        plain_clear=clear_total,
        not_forward=not_forward,
        forward=fast["infer"],
    )


if __name__ == "__main__":
    main()
