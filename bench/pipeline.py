"""The whole u2netp pipeline, bytes in to PNG bytes out: cutout against the straightforward way.

For each photo (0.2 to 8 MP, from ../shared/images) and in the same run:

* **cutout**: ``Engine("u2netp").remove(data)``, per-stage medians from its timings
  (decode, preprocess, infer, postprocess, edges, compose, encode), at the edge level
  ``--edges`` (default: ``DEFAULT_EDGES``; ``off`` gives the like-for-like picture, the
  straightforward pipelines have no edge stage and show 0 there);
* **plain** (straightforward): what most tools do, with the same model session: Pillow decode
  (EXIF transpose, ICC to sRGB with ImageCms so that the output is the same picture),
  Pillow Lanczos to 320, the reference normalisation, the same forward, min-max, Pillow
  Lanczos back to full size, ``putalpha``, Pillow PNG at its default level (6);
* **plain-c**: the same, with the colour under alpha 0 cleared first, as in cutout's PNG
  (and rembg's): the very same picture as cutout's, and a much cheaper PNG to deflate;
* **rembg** (peer figure), when ``bench/.venvs/rembg`` exists: ``rembg.remove(data)``
  with the same u2netp.onnx, in a worker subprocess whose runs interleave with the
  others' (timed inside the worker). Create the venv with::

      python -m venv bench/.venvs/rembg
      bench/.venvs/rembg/bin/pip install rembg onnxruntime

Prints one table per photo (median ms per stage, the ratio straightforward / cutout) and
a summary. Runs of the variants interleave, so that other work on the machine slows
each alike. "Equal output" is checked, not assumed: both PNGs are decoded and compared
(mean absolute alpha and colour difference, in 8-bit levels). Wall times are noisy when
other work shares the machine; run with more ``--runs`` for steadier medians. "CPU
total" is this process's CPU time (every thread, the model's included): steadier under
load, and an upper bound for cutout's wall time on an idle machine with spare cores.
cutout's decode of an ICC-tagged photo gets faster once the profile has converted 2**24
pixels (it then keeps the profile's lookup table, see ``cutout.imaging.icc``): on the
8 MP aeroplane.jpg that is from the second timed run on, so the medians are warm.

    .venv/bin/python bench/pipeline.py                      # 5 photos, 5 runs each
    .venv/bin/python bench/pipeline.py --runs 3 --images aeroplane.jpg
    .venv/bin/python bench/pipeline.py --edges off        # the same picture as plain-c
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, ImageOps

from cutout.engine import STAGES, Engine
from cutout.imaging.compose import compose
from cutout.imaging.decode import decode
from cutout.imaging.edges import refine_edges
from cutout.imaging.encode import encode
from cutout.imaging.tensor import preprocess, saliency_to_matte8
from cutout.models.registry import get_spec
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS, RemoveOptions

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

Stages = dict[str, tuple[float, float]]  # stage -> (wall seconds, CPU seconds)
Pipeline = Callable[[], tuple[bytes, Stages]]
_OPAQUE = [0] + [255] * 255  # a lookup table: visible (alpha > 0) -> 255


class _Clock:
    """Wall and process CPU time of consecutive stages."""

    def __init__(self) -> None:
        self.stages: Stages = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.stages[stage] = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


def _cutout(engine: Engine, data: bytes, options: RemoveOptions) -> tuple[bytes, Stages]:
    """Engine.remove's stages, called one by one so that each gets a CPU time too."""
    clock = _Clock()
    image = decode(data, max_pixels=engine.max_pixels)
    clock.lap("decode")
    tensor = preprocess(image.rgb, engine.spec)
    clock.lap("preprocess")
    saliency = engine.backend.predict(tensor[None])[0]
    clock.lap("infer")
    matte = saliency_to_matte8(saliency, engine.spec, image.width, image.height)
    clock.lap("postprocess")
    edges = refine_edges(image.rgb, matte, options.edges, keep=image.alpha)
    clock.lap("edges")
    composite = compose(image.rgb, edges.alpha, options, colours=edges.rgb, keep=image.alpha)
    clock.lap("compose")
    png = encode(composite, "png", quality=options.quality, png_compress_level=1)
    clock.lap("encode")
    return png, clock.stages


def _straightforward(engine: Engine, data: bytes, clear: bool) -> tuple[bytes, Stages]:
    """The usual Pillow pipeline, stage by stage, on the engine's own backend."""
    clock = _Clock()
    spec = engine.spec
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
    clock.lap("decode")

    small = np.asarray(image.resize((320, 320), Image.Resampling.LANCZOS), dtype=np.float32)
    small = small / max(float(small.max()), 1e-6)
    tensor = ((small - np.asarray(spec.mean)) / np.asarray(spec.std)).transpose(2, 0, 1)
    batch = np.ascontiguousarray(tensor[None], dtype=np.float32)
    clock.lap("preprocess")

    saliency = engine.backend.predict(batch)[0]
    clock.lap("infer")

    low, high = float(saliency.min()), float(saliency.max())
    normalised = (saliency - low) / (high - low + 1e-8)
    mask = Image.fromarray((normalised * 255).astype(np.uint8), "L")
    mask = mask.resize(image.size, Image.Resampling.LANCZOS)
    clock.lap("postprocess")
    clock.lap("edges")  # none

    if clear:
        # the colour under alpha 0 cleared, as in cutout's PNG (rembg's Image.composite
        # with an empty image does this too, but also darkens the soft edges)
        cutout = Image.composite(image, Image.new("RGB", image.size), mask.point(_OPAQUE))
    else:
        cutout = image.copy()
    cutout.putalpha(mask)
    clock.lap("compose")

    buffer = io.BytesIO()
    cutout.save(buffer, "PNG")
    clock.lap("encode")
    return buffer.getvalue(), clock.stages


@dataclass(frozen=True)
class Measured:
    output: bytes
    stages: Stages  # medians
    wall: float  # median whole-pipeline seconds
    cpu: float

    def not_forward(self, index: int) -> float:
        return sum(self.stages[stage][index] for stage in STAGES if stage != "infer")


def _run(calls: list[Pipeline], runs: int) -> list[Measured]:
    """Medians for each pipeline; runs interleave, so that load from other work on the
    machine falls on every variant alike."""
    samples: list[list[Stages]] = [[] for _ in calls]
    outputs = [b""] * len(calls)
    for _ in range(runs):
        for index, call in enumerate(calls):
            outputs[index], stages = call()
            samples[index].append(stages)
    measured = []
    for output, runs_of_call in zip(outputs, samples, strict=True):
        stages = {
            stage: (
                statistics.median(sample[stage][0] for sample in runs_of_call),
                statistics.median(sample[stage][1] for sample in runs_of_call),
            )
            for stage in runs_of_call[0]
        }
        wall = statistics.median(sum(t[0] for t in sample.values()) for sample in runs_of_call)
        cpu = statistics.median(sum(t[1] for t in sample.values()) for sample in runs_of_call)
        measured.append(Measured(output, stages, wall, cpu))
    return measured


def _pixels(png: bytes) -> npt.NDArray[np.int16]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.int16)


_REMBG_WORKER = """
import json, sys, time
from rembg import new_session, remove
session = new_session("u2netp")
print("ready", flush=True)
for line in sys.stdin:
    data = open(line.strip(), "rb").read()
    wall, cpu = time.perf_counter(), time.process_time()
    remove(data, session=session)
    print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]), flush=True)
"""


class _Rembg:
    """rembg in its own venv, kept running; one ``remove`` per request, timed inside."""

    def __init__(self, python: Path, home: Path) -> None:
        shutil.copyfile(MODEL_FILE, home / "u2netp.onnx")  # rembg then downloads nothing
        self._process = subprocess.Popen(
            [str(python), "-c", _REMBG_WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "U2NET_HOME": str(home)},
        )
        if self._readline() != "ready":
            raise RuntimeError("rembg did not start")

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"rembg exited ({self._process.wait()})")
        return line

    def remove(self, path: Path) -> tuple[bytes, Stages]:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{path}\n")
        self._process.stdin.flush()
        wall, cpu = json.loads(self._readline())
        return b"", {"total": (wall, cpu)}

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)


def _start_rembg(home: Path) -> _Rembg | str:
    python = REMBG_VENV / "bin" / "python"
    if not python.exists():
        venv = REMBG_VENV.relative_to(REPO)
        return (
            f"skipped: no {venv} (python -m venv {venv} && {venv}/bin/pip install rembg "
            "onnxruntime)"
        )
    try:
        return _Rembg(python, home)
    except (OSError, RuntimeError) as exc:
        return f"failed to start: {exc}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f}"


@dataclass(frozen=True)
class Row:
    name: str
    megapixels: float
    ours: Measured
    plain: Measured
    clear: Measured
    rembg: Measured | None


def _compare(
    engine: Engine, path: Path, runs: int, rembg: _Rembg | None, options: RemoveOptions
) -> Row:
    data = path.read_bytes()
    reference = engine.remove(data, options).data  # also the first call: lazy imports, pools
    calls: list[Pipeline] = [
        lambda: _cutout(engine, data, options),
        lambda: _straightforward(engine, data, False),
        lambda: _straightforward(engine, data, True),
    ]
    if rembg is not None:
        rembg.remove(path)  # its first call too
        calls.append(lambda: rembg.remove(path))
    measured = _run(calls, runs)
    ours, plain, clear = measured[:3]
    assert ours.output == reference, "the staged pipeline must be Engine.remove's"
    ours_px, clear_px = _pixels(ours.output), _pixels(clear.output)
    alpha_diff = float(np.abs(ours_px[..., 3] - clear_px[..., 3]).mean())
    colour_diff = float(np.abs(ours_px[..., :3] - clear_px[..., :3]).mean())
    height, width = ours_px.shape[:2]
    print(
        f"\n{path.name}: {width}x{height} = {width * height / 1e6:.1f} MP, "
        f"{len(data) / 1e6:.2f} MB in"
    )
    heading = f"{'cutout':>8}{'plain':>8}{'x':>6}{'plain-c':>8}{'x':>6}"
    print(f"{'':<12}{'wall ms':^36}  {'CPU ms':^36}")
    print(f"{'stage':<12}{heading}  {heading}")

    def cells(values: tuple[float, float, float]) -> str:
        base = max(values[0], 1e-6)
        return (
            f"{_ms(values[0])}{_ms(values[1])}{values[1] / base:6.1f}"
            f"{_ms(values[2])}{values[2] / base:6.1f}"
        )

    for stage in STAGES:
        wall = (ours.stages[stage][0], plain.stages[stage][0], clear.stages[stage][0])
        cpu = (ours.stages[stage][1], plain.stages[stage][1], clear.stages[stage][1])
        print(f"{stage:<12}{cells(wall)}  {cells(cpu)}")
    print(
        f"{'total':<12}{cells((ours.wall, plain.wall, clear.wall))}  "
        f"{cells((ours.cpu, plain.cpu, clear.cpu))}"
    )
    print(
        f"cutout, all but the forward: {ours.not_forward(0) * 1000:.0f} ms wall, "
        f"{ours.not_forward(1) * 1000:.0f} ms CPU; the forward: "
        f"{ours.stages['infer'][0] * 1000:.0f} ms wall, {ours.stages['infer'][1] * 1000:.0f} ms CPU"
    )
    print(
        f"PNG MB: cutout {len(ours.output) / 1e6:.2f}, plain {len(plain.output) / 1e6:.2f}, "
        f"plain-c {len(clear.output) / 1e6:.2f}; cutout vs plain-c mean |diff|: alpha "
        f"{alpha_diff:.2f}, colour {colour_diff:.2f} (8-bit levels)"
    )
    peer = measured[3] if rembg is not None else None
    return Row(path.name, width * height / 1e6, ours, plain, clear, peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=list(DEFAULT_IMAGES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-rembg", action="store_true", help="skip the rembg peer figure")
    parser.add_argument("--edges", choices=EDGE_LEVELS, default=DEFAULT_EDGES)
    args = parser.parse_args()
    options = RemoveOptions(edges=args.edges)

    engine = Engine(get_spec("u2netp"), device="cpu")
    engine.load()
    engine.warmup()
    paths = [IMAGES / name for name in args.images]
    print(
        f"cutout {engine.spec.name} on {engine.device.name}, edges {args.edges}, "
        f"{args.runs} runs, medians"
    )
    with tempfile.TemporaryDirectory() as home:
        rembg = "skipped: --no-rembg" if args.no_rembg else _start_rembg(Path(home))
        worker = rembg if isinstance(rembg, _Rembg) else None
        try:
            rows = [_compare(engine, path, args.runs, worker, options) for path in paths]
        finally:
            if worker is not None:
                worker.close()
    print("\nsummary: ms per image, bytes in -> PNG bytes out; x = time / cutout's")
    print(
        f"{'photo':<24}{'MP':>5}{'':>3}{'cutout':>8}{'plain':>8}{'x':>6}{'plain-c':>8}{'x':>6}"
        f"{'rembg':>8}{'x':>6}{'non-fwd':>8}{'fwd':>8}"
    )
    for row in rows:
        for index, kind in ((0, "wall"), (1, "CPU")):
            ours = (row.ours.wall, row.ours.cpu)[index]
            plain = (row.plain.wall, row.plain.cpu)[index]
            clear = (row.clear.wall, row.clear.cpu)[index]
            peer = row.rembg
            peer_time = None if peer is None else (peer.wall, peer.cpu)[index]
            rembg_cells = (
                f"{_ms(peer_time)}{peer_time / ours:6.1f}" if peer_time else f"{'-':>8}{'-':>6}"
            )
            label = f"{row.name:<24}{row.megapixels:5.1f}" if index == 0 else " " * 29
            print(
                f"{label}{kind:>4}{_ms(ours)}{_ms(plain)}{plain / ours:6.1f}{_ms(clear)}"
                f"{clear / ours:6.1f}{rembg_cells}{_ms(row.ours.not_forward(index))}"
                f"{_ms(row.ours.stages['infer'][index])}"
            )
    if isinstance(rembg, str):
        print(f"rembg: {rembg}")


if __name__ == "__main__":
    main()
