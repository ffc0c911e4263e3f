"""Composites with exact ground truth, Composition-1k style: ``I = alpha F + (1 - alpha) B``.

A case is a subject (:mod:`bench.quality.subjects`) on a background
(:mod:`bench.quality.backgrounds`), built as layers with exact alpha:

1. **body**: the subject's mask (``masks/<photo>.png``, u2netp's matte of the photo
   thresholded at 0.5 once, see :func:`derive_masks`), enlarged to the case, smoothed,
   pulled in a few pixels (so that less of the photo's own background stays inside) and
   given a 1.5 px anti-aliased edge; its colour is the photo's;
2. **fluff**: patchy semi-transparent wisps (alpha up to 0.25-0.35) just outside the
   outline, coloured with the subject's colours near the outline, under the body;
3. **strands**: fur or hair grown outwards from the outline (tapering, curling, falling,
   sub-pixel to 1.6 px wide, opacity 0.3-0.95), coloured from the body just inside their
   root, then whiskers, laid over everything (:mod:`bench.quality.strands`).

Alpha is stored in 16 bits, ``F`` and ``B`` in 8, and ``I`` is computed from exactly those
stored values and rounded to 8 bits, so ``|I - (alpha F + (1 - alpha) B)| <= 0.5`` holds
for the files, not only for the floats. Everything is drawn from
``numpy.random.default_rng([seed, index])``: the same seed gives the same bytes.

    .venv/bin/python bench/quality/synth.py OUT [--cases 12] [--seed 0] [--size 1200]
    .venv/bin/python bench/quality/synth.py --derive-masks   # once; needs cutout's u2netp
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality import backgrounds
from bench.quality.filters import (
    BoolArray,
    FloatArray,
    components,
    dilate,
    largest_component,
)
from bench.quality.layers import (
    Frame,
    body_alpha,
    fluff_layer,
    outline,
    strands_for,
    whiskers_for,
)
from bench.quality.metrics import band_radius, edge_band, unknown_region
from bench.quality.strands import draw
from bench.quality.subjects import SUBJECTS, Subject

__all__ = [
    "GENERATOR",
    "Case",
    "CaseSpec",
    "Truth",
    "cache_key",
    "case_specs",
    "derive_masks",
    "make_case",
    "read_truth",
    "write_cases",
]

GENERATOR = "cutout-quality-synth/1"
REPO = Path(__file__).resolve().parents[2]
SHARED_IMAGES = REPO.parent / "shared" / "images"
MASKS = Path(__file__).resolve().parent / "masks"
DEFAULT_CASES = 12
DEFAULT_SEED = 0
DEFAULT_SIZE = 1200
# the body is pulled in by this share of the photo's long side, so that little of the
# photo's own background stays inside u2netp's outline
ERODE = 0.002
ByteArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CaseSpec:
    """Case ``index`` (0-based): a subject on one kind of background."""

    index: int
    subject: Subject
    background: str

    @property
    def name(self) -> str:
        return f"case-{self.index + 1:02d}"


def case_specs(count: int = DEFAULT_CASES) -> list[CaseSpec]:
    """The first ``count`` cases: subjects in turn, the background kind rotating so that
    every 12 cases hold each subject on each kind once (beyond 12 the list repeats, with
    other random draws)."""
    kinds = backgrounds.KINDS
    specs = []
    for index in range(count):
        subject = SUBJECTS[index % len(SUBJECTS)]
        kind = kinds[(index + index // len(SUBJECTS)) % len(kinds)]
        specs.append(CaseSpec(index, subject, kind))
    return specs


@dataclass(frozen=True)
class Case:
    """A generated case: the composite and its exact truth (8-bit F and B, 16-bit alpha)."""

    name: str
    image: ByteArray
    alpha16: npt.NDArray[np.uint16]
    foreground: ByteArray
    background: ByteArray
    info: dict[str, Any]

    @property
    def alpha(self) -> FloatArray:
        result: FloatArray = self.alpha16 / 65535.0
        return result


def _photo_and_mask(
    subject: Subject, size: int, images: Path
) -> tuple[FloatArray, FloatArray, Frame]:
    """The subject's crop at the case size (float RGB), its mask there, and its frame."""
    with Image.open(images / subject.photo) as opened:
        photo = opened.convert("RGB")
    with Image.open(MASKS / f"{Path(subject.photo).stem}.png") as opened:
        mask = opened.convert("F")
    left, top, right, bottom = subject.crop
    box = (left * photo.width, top * photo.height, right * photo.width, bottom * photo.height)
    scale = size / max(box[2] - box[0], box[3] - box[1])
    width, height = round((box[2] - box[0]) * scale), round((box[3] - box[1]) * scale)
    rgb = np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS, box=box), np.float64)
    soft = (
        np.asarray(mask.resize((width, height), Image.Resampling.BILINEAR, box=box), np.float64)
        / 255
    )
    return rgb, soft, Frame(photo.width, photo.height, box[0], box[1], scale)


def _background(
    spec: CaseSpec, rng: np.random.Generator, photo: FloatArray, body: BoolArray, images: Path
) -> tuple[FloatArray, str]:
    """The case's background (float levels) and a short description of it."""
    height, width = body.shape
    if spec.background == "light":
        ring = body & dilate(~body, max(2, round(max(width, height) / 200)))
        tone = np.median(photo[ring], axis=0) if ring.any() else np.full(3, 128.0)
        neutral = np.asarray(spec.subject.neutral, np.float64)
        mixed = (1 - backgrounds.TINT) * neutral + backgrounds.TINT * tone
        colour = (float(mixed[0]), float(mixed[1]), float(mixed[2]))
        name = "light " + "/".join(f"{c:.0f}" for c in colour)
        return backgrounds.backdrop(rng, height, width, colour), name
    if spec.background == "dark":
        return backgrounds.backdrop(rng, height, width, backgrounds.DARK), "dark"
    if spec.subject.busy == "grass":
        return backgrounds.grass(rng, height, width), "busy grass"
    busy = backgrounds.photo(rng, str(images / spec.subject.busy), height, width)
    return busy, f"busy {spec.subject.busy}"


def make_case(
    spec: CaseSpec, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE, images: Path = SHARED_IMAGES
) -> Case:
    """Build case ``spec`` at ``size`` px on its long side (see the module docstring)."""
    rng = np.random.default_rng([seed, spec.index])
    subject = spec.subject
    photo, soft_mask, frame = _photo_and_mask(subject, size, images)
    height, width = soft_mask.shape
    alpha = body_alpha(soft_mask, erode=ERODE * frame.long_side)
    premultiplied = alpha[..., None] * photo
    body = alpha >= 0.5
    points, normals = outline(alpha)

    counts: dict[str, int] = {}
    if subject.fluff is not None:
        fluff_alpha, fluff_colour = fluff_layer(rng, subject, body, photo, frame)
        premultiplied += (1 - alpha)[..., None] * fluff_alpha[..., None] * fluff_colour
        alpha = alpha + (1 - alpha) * fluff_alpha
        counts["fluff_pixels"] = int(np.count_nonzero(fluff_alpha > 0.5 / 255))
    for style in subject.strands:
        strands = strands_for(rng, style, points, normals, photo, frame)
        for strand in strands:
            draw(strand, premultiplied, alpha)
        counts[style.name] = len(strands)
    whiskers = whiskers_for(rng, subject, frame)
    for strand in whiskers:
        draw(strand, premultiplied, alpha)
    counts["whiskers"] = len(whiskers)

    alpha16 = np.round(np.clip(alpha, 0, 1) * 65535).astype(np.uint16)
    visible = alpha16 > 0
    foreground = np.zeros((height, width, 3), np.uint8)
    colour = premultiplied[visible] / np.maximum(alpha[visible], 1e-12)[:, None]
    foreground[visible] = np.clip(np.round(colour), 0, 255).astype(np.uint8)
    background_float, background_name = _background(spec, rng, photo, body, images)
    background = np.clip(np.round(background_float), 0, 255).astype(np.uint8)
    exact = alpha16 / 65535.0
    composite = exact[..., None] * foreground + (1 - exact[..., None]) * background
    image = np.clip(np.round(composite), 0, 255).astype(np.uint8)

    radius = band_radius(width, height)
    band = edge_band(exact, radius)
    partial = unknown_region(exact)
    info = {
        "name": spec.name,
        "generator": GENERATOR,
        "seed": seed,
        "index": spec.index,
        "subject": subject.name,
        "photo": subject.photo,
        "kind": spec.background,
        "background": background_name,
        "width": width,
        "height": height,
        "band_radius": radius,
        "band_pixels": int(band.sum()),
        "partial_pixels": int(partial.sum()),
        "partial_share_of_band": round(float(partial.sum() / max(1, band.sum())), 4),
        "strands": counts,
    }
    return Case(spec.name, image, alpha16, foreground, background, info)


_SOURCES = ("backgrounds", "filters", "layers", "metrics", "strands", "subjects", "synth")


def cache_key(count: int, seed: int, size: int) -> str:
    """A folder name that changes with the generator's code, masks and parameters."""
    digest = hashlib.sha256(f"{GENERATOR} {count} {seed} {size}".encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        digest.update((here / f"{name}.py").read_bytes())
    for mask in sorted(MASKS.glob("*.png")):
        digest.update(mask.read_bytes())
    return f"cases-{count}-seed{seed}-{size}px-{digest.hexdigest()[:12]}"


def _save(array: npt.NDArray[Any], path: Path) -> None:
    Image.fromarray(array).save(path, "PNG", compress_level=6)


def write_cases(
    folder: Path,
    count: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    size: int = DEFAULT_SIZE,
    images: Path = SHARED_IMAGES,
) -> list[dict[str, Any]]:
    """Write ``count`` cases: ``images/case-NN.png`` (the composites, alone in their
    folder so that tools can be run on it), ``truth/case-NN.alpha.png`` (16-bit),
    ``.fg.png``, ``.bg.png`` and ``.json``, and ``cases.json`` (last: the folder is
    complete when it exists)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    infos = []
    for spec in case_specs(count):
        case = make_case(spec, seed, size, images)
        _save(case.image, folder / "images" / f"{case.name}.png")
        _save(case.alpha16, folder / "truth" / f"{case.name}.alpha.png")
        _save(case.foreground, folder / "truth" / f"{case.name}.fg.png")
        _save(case.background, folder / "truth" / f"{case.name}.bg.png")
        text = json.dumps(case.info, indent=2) + "\n"
        (folder / "truth" / f"{case.name}.json").write_text(text)
        infos.append(case.info)
    (folder / "cases.json").write_text(json.dumps(infos, indent=2) + "\n")
    return infos


@dataclass(frozen=True)
class Truth:
    """A case's ground truth as floats: alpha in [0, 1], F and B in 0-255 levels."""

    alpha: FloatArray
    foreground: FloatArray
    background: FloatArray
    info: dict[str, Any]


def read_truth(folder: Path, name: str) -> Truth:
    """The truth of case ``name`` written by :func:`write_cases` in ``folder``."""
    truth = folder / "truth"
    with Image.open(truth / f"{name}.alpha.png") as opened:
        alpha = np.asarray(opened, np.float64) / 65535.0
    with Image.open(truth / f"{name}.fg.png") as opened:
        foreground = np.asarray(opened.convert("RGB"), np.float64)
    with Image.open(truth / f"{name}.bg.png") as opened:
        background = np.asarray(opened.convert("RGB"), np.float64)
    info = json.loads((truth / f"{name}.json").read_text())
    return Truth(alpha, foreground, background, info)


def derive_masks(images: Path = SHARED_IMAGES, out: Path = MASKS) -> list[Path]:
    """Body masks from cutout's u2netp matte: >= 0.5, the largest part, small holes filled.

    Run once; the masks are committed so that the cases do not depend on the model's
    numerics (nor need it). The bodies' outlines are thus u2netp's own: body-edge errors
    flatter u2netp; the fine structure drawn beyond them is where methods differ.
    """
    from cutout import Engine

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with Engine("u2netp", device="cpu") as engine:
        for name in sorted({subject.photo for subject in SUBJECTS}):
            mask = largest_component(engine.matte(images / name) >= 0.5)
            labels, sizes = components(~mask)
            small = np.nonzero(sizes < 0.002 * mask.size)[0]
            mask |= np.isin(labels, small[small > 0])
            path = out / f"{Path(name).stem}.png"
            Image.fromarray(mask).save(path, "PNG", optimize=True)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="folder to write the cases to")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="long side, px")
    parser.add_argument("--derive-masks", action="store_true", help="rewrite masks/ with u2netp")
    args = parser.parse_args(argv)
    if args.derive_masks:
        for path in derive_masks():
            print(f"wrote {path.relative_to(REPO)}")
        return 0
    if args.out is None:
        parser.error("OUT is required (or --derive-masks)")
    for info in write_cases(args.out, args.cases, args.seed, args.size):
        print(
            f"{info['name']}: {info['subject']:<11} {info['background']:<36} "
            f"{info['width']}x{info['height']}, partial alpha on "
            f"{info['partial_share_of_band']:.0%} of the band"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
