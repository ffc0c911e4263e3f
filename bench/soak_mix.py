"""The soak benchmark's request mix: what is sent, and what each request must get back.

Every :class:`Kind` is one request shape (API, input image and format, options) with a
weight, the answer it must get (200 and a media type, or a 4xx status and its JSON error
code), and the bytes it sends, built once. :func:`build_mix` makes the mix from the
photos in ``../shared/images``; :func:`schedule` turns it into a seeded, repeatable
sequence of arrivals. Nothing here talks to a server.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from PIL import Image

__all__ = [
    "Arrival",
    "Arrivals",
    "Kind",
    "build_mix",
    "check",
    "deck_size",
    "error_code",
    "kinds_in_order",
    "oversized_png",
    "schedule",
]

NATIVE = "/v1/remove"
REMOVEBG = "/v1.0/removebg"

# the first bytes of each answer format: a 200 with the wrong body is an error too
_MAGIC = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}


@dataclass(frozen=True)
class Kind:
    """One request shape of the mix and the answer it must get."""

    name: str
    weight: int  # copies in each deck of the mix (see kinds_in_order)
    path: str
    post: Mapping[str, Any] = field(default_factory=dict)  # httpx post() keyword arguments
    status: int = 200
    answer: str = "image/png"  # a 200's media type, or the JSON error code of a 4xx

    @property
    def bad(self) -> bool:
        return self.status != 200


def error_code(response: httpx.Response) -> str | None:
    """The ``code`` of an error answer's JSON, if it has one."""
    try:
        code = response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return code if isinstance(code, str) else None


def check(kind: Kind, response: httpx.Response) -> str:
    """``""`` when ``response`` is the answer ``kind`` must get, else what was wrong."""
    status = response.status_code
    if status != kind.status or kind.bad:
        code = error_code(response) if status != 200 else None
        answer = f"{status} {code or '(no error JSON)'}" if status != 200 else "200"
        return "" if kind.bad and answer == f"{kind.status} {kind.answer}" else answer
    media = response.headers.get("content-type", "").split(";", 1)[0]
    if media != kind.answer:
        return f"200 {media or 'without content-type'}"
    if media == "application/json":
        body = response.json().get("data", {})
        return "" if body.get("result_b64") else "200 JSON without result_b64"
    return "" if response.content.startswith(_MAGIC[media]) else f"200 body is not {media}"


def _reencode(data: bytes, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, fmt, quality=90)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def oversized_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG header that claims ``width`` x ``height``: refused before any pixel is read."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def build_mix(images: Path) -> list[Kind]:
    """The mix: sizes 0.24-8.1 MP, JPEG/PNG/WebP in, PNG/WebP/JPEG/JSON out, both APIs,
    and 10 % bad inputs (a deck of 50) that must be refused with their own 4xx code."""
    small = (images / "girl-1.jpg").read_bytes()  # 600x399
    medium = (images / "animal-1.jpg").read_bytes()  # 1000x667
    tall = (images / "animal-2.jpg").read_bytes()  # 610x700
    large = (images / "aeroplane.jpg").read_bytes()  # 3492x2328, 8.1 MP
    png = (images / "plants-1-really-png.jpg").read_bytes()  # a 987x1481 RGBA PNG
    webp = _reencode((images / "car-2.jpg").read_bytes(), "WEBP")  # 1000x667
    b64 = base64.b64encode(small).decode("ascii")

    def native(name: str, data: bytes, mime: str) -> dict[str, Any]:
        return {"files": {"image": (name, data, mime)}}

    def removebg(data: bytes, **fields: str) -> dict[str, Any]:
        return {"files": {"image_file": ("photo.jpg", data, "image/jpeg")}, "data": fields}

    return [
        Kind("native png", 10, f"{NATIVE}?format=png", native("a.jpg", medium, "image/jpeg")),
        Kind(
            "native webp<-webp",
            5,
            f"{NATIVE}?format=webp",
            native("c.webp", webp, "image/webp"),
            answer="image/webp",
        ),
        Kind(
            "native jpg bg",
            5,
            f"{NATIVE}?format=jpg&bg=ffffff",
            native("t.jpg", tall, "image/jpeg"),
            answer="image/jpeg",
        ),
        Kind(
            "native crop raw body",
            5,
            f"{NATIVE}?crop=true&margin=5%25",
            {"content": small, "headers": {"Content-Type": "image/jpeg"}},
        ),
        Kind("native mask<-png", 3, f"{NATIVE}?mask=true", native("p.png", png, "image/png")),
        Kind("native 8 MP", 1, f"{NATIVE}?format=png", native("big.jpg", large, "image/jpeg")),
        Kind("removebg auto", 5, REMOVEBG, removebg(medium, size="auto")),
        Kind(
            "removebg bg_color jpg",
            4,
            REMOVEBG,
            removebg(tall, bg_color="81d4fa", format="jpg"),
            answer="image/jpeg",
        ),
        Kind("removebg alpha", 3, REMOVEBG, removebg(small, channels="alpha")),
        Kind(
            "removebg b64 crop json",
            3,
            REMOVEBG,
            {
                "content": json.dumps({"image_file_b64": b64, "crop": True}).encode(),
                "headers": {"Content-Type": "application/json", "Accept": "application/json"},
            },
            answer="application/json",
        ),
        Kind("removebg 8 MP preview", 1, REMOVEBG, removebg(large, size="preview")),
        Kind(
            "bad truncated jpeg",
            1,
            f"{NATIVE}?format=png",
            native("cut.jpg", medium[: len(medium) // 3], "image/jpeg"),
            400,
            "failed_to_read_image",
        ),
        Kind(
            "bad text file",
            1,
            REMOVEBG,
            {"files": {"image_file": ("notes.txt", b"not a picture\n" * 40, "text/plain")}},
            400,
            "failed_to_read_image",
        ),
        Kind(
            "bad 60000x60000 header",
            1,
            f"{NATIVE}?format=png",
            native("bomb.png", oversized_png(), "image/png"),
            400,
            "resolution_too_high",
        ),
        Kind(
            "bad option value",
            1,
            f"{NATIVE}?format=gif",
            native("a.jpg", medium, "image/jpeg"),
            400,
            "invalid_format",
        ),
        Kind(
            "bad removebg type",
            1,
            REMOVEBG,
            removebg(small, type="spaceship"),
            400,
            "invalid_type",
        ),
    ]


Arrivals = Literal["poisson", "uniform"]


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the start of the run
    kind: Kind


def deck_size(kinds: Sequence[Kind]) -> int:
    return sum(kind.weight for kind in kinds)


def kinds_in_order(kinds: Sequence[Kind], seed: int) -> Iterator[Kind]:
    """An endless, seeded sequence of shuffled decks, each holding ``weight`` copies of
    every kind: every kind comes at least once per deck, in its exact share, so that two
    windows of the run see the same mix (independent draws would not)."""
    rng = random.Random(seed)
    deck = [kind for kind in kinds for _ in range(kind.weight)]
    while True:
        rng.shuffle(deck)
        yield from deck


def schedule(
    kinds: Sequence[Kind],
    rate: float,
    duration: float,
    seed: int,
    arrivals: Arrivals = "poisson",
) -> list[Arrival]:
    """Open-loop arrivals at ``rate`` per second for ``duration`` seconds: exponential
    gaps (a Poisson process) or a fixed interval; the same seed gives the same run."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    gaps = random.Random(seed + 1)
    order = kinds_in_order(kinds, seed)
    result = []
    at = gaps.expovariate(rate) if arrivals == "poisson" else 0.5 / rate
    while at < duration:
        result.append(Arrival(at, next(order)))
        at += gaps.expovariate(rate) if arrivals == "poisson" else 1 / rate
    return result
