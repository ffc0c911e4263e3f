"""The subjects of the synthetic cases: a photo, its body mask, and the fine structure.

Positions (crop boxes, whisker anchors, root regions) are shares of the whole photo's
width and height; lengths are shares of the photo's long side, so they scale with the
subject when a crop is enlarged; widths are in output pixels (a strand is a pixel or so
wide in any photo, close-up or not).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SUBJECTS", "Ellipse", "Fluff", "StrandStyle", "Subject", "Tuft", "subject"]

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Ellipse:
    """A region of the photo: centre and radii as shares of its width and height."""

    x: float
    y: float
    radius_x: float
    radius_y: float


@dataclass(frozen=True)
class StrandStyle:
    """Strands growing outwards from the body outline (fur, hair, flyaways).

    ``density`` is strands per outline pixel of the output; the length is log-normal
    around ``length`` (share of the photo's long side) with ``length_spread`` its sigma;
    ``spread`` is the standard deviation, in degrees, of the angle to the outline's
    normal; ``curl`` of the strand's total turning (degrees); ``gravity`` how much the strand
    falls (0: straight out). ``region``: roots only inside it (``None``: anywhere).
    """

    name: str
    density: float
    length: float
    width: tuple[float, float]
    opacity: tuple[float, float]
    length_spread: float = 0.45
    spread: float = 28.0
    curl: float = 25.0
    gravity: float = 0.0
    region: Ellipse | None = None


@dataclass(frozen=True)
class Tuft:
    """Whiskers: ``count`` near-straight strands from an anchor (shares of the photo)."""

    x: float
    y: float
    angle: float  # degrees, 0 = right, 90 = down
    spread: float  # degrees between the outermost whiskers
    count: int
    length: tuple[float, float]  # share of the photo's long side
    width: tuple[float, float]
    colour: RGB


@dataclass(frozen=True)
class Fluff:
    """Semi-transparent wisps just outside the outline.

    Patches covering about ``share`` of the outline, reaching about ``extent`` (share of
    the photo's long side) outwards, with alpha up to ``peak``.
    """

    share: float
    extent: float
    peak: float
    region: Ellipse | None = None


@dataclass(frozen=True)
class Subject:
    """A photo, the part of it used (``crop``: left, top, right, bottom as shares), its
    fine structure, and the backgrounds that hurt it: ``neutral`` (the light colour of its
    low-contrast backdrop) and ``busy`` ("grass" or a photo's file name: a texture, not a
    scene with salient objects, which u2netp would keep as part of the subject)."""

    name: str
    photo: str
    crop: tuple[float, float, float, float]
    strands: tuple[StrandStyle, ...]
    tufts: tuple[Tuft, ...]
    fluff: Fluff | None
    neutral: RGB
    busy: str


_TIGER_FUR = StrandStyle("fur", 0.9, 0.012, (0.5, 1.6), (0.45, 0.95), gravity=0.1)
_TIGER_WHISKERS = (
    Tuft(0.335, 0.50, 180.0, 30.0, 8, (0.08, 0.13), (0.9, 1.5), (242, 240, 232)),
    Tuft(0.405, 0.50, -40.0, 30.0, 8, (0.08, 0.13), (0.9, 1.5), (242, 240, 232)),
)
_TIGER_FLUFF = Fluff(0.45, 0.008, 0.35)
_HEAD = Ellipse(0.365, 0.47, 0.085, 0.14)
_HAIR = Ellipse(0.365, 0.53, 0.08, 0.10)  # below the cap: the sides of the head

SUBJECTS: tuple[Subject, ...] = (
    Subject(
        "tiger",
        "animal-1.jpg",
        (0.0, 0.0, 1.0, 1.0),
        (_TIGER_FUR,),
        _TIGER_WHISKERS,
        _TIGER_FLUFF,
        neutral=(240, 232, 214),  # cream
        busy="grass",
    ),
    Subject(
        "tiger-close",  # the front half, 2x: a tighter head crop makes u2netp drop the
        "animal-1.jpg",  # body where the frame cuts it (no longer an edge problem)
        (0.05, 0.25, 0.65, 0.95),
        (_TIGER_FUR,),
        _TIGER_WHISKERS,
        _TIGER_FLUFF,
        neutral=(248, 248, 246),  # white
        busy="background.jpg",  # white clouds behind white fur
    ),
    Subject(
        "elephant",
        "animal-2.jpg",
        (0.08, 0.18, 0.88, 0.96),
        (StrandStyle("hair", 0.06, 0.015, (0.5, 1.2), (0.5, 0.9), spread=30.0),),
        (),
        None,
        neutral=(196, 196, 192),  # light grey
        busy="background.jpg",
    ),
    Subject(
        "girl",
        "girl-1.jpg",
        (0.20, 0.22, 0.58, 1.0),
        (
            StrandStyle("hair", 1.5, 0.035, (0.4, 1.0), (0.5, 0.95), 0.5, 25.0, 30.0, 0.9, _HAIR),
            StrandStyle("flyaway", 0.04, 0.08, (0.3, 0.6), (0.4, 0.8), 0.4, 40.0, 60.0, 0.3, _HEAD),
        ),
        (),
        Fluff(0.6, 0.006, 0.25, _HEAD),
        neutral=(246, 246, 246),  # white
        busy="grass",  # dark strands over blades of grass
    ),
)


def subject(name: str) -> Subject:
    """The subject called ``name``."""
    for candidate in SUBJECTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no subject {name!r}; known: {', '.join(s.name for s in SUBJECTS)}")
