"""What both API dialects send with a result image: one set of headers, documented once.

Every image response carries the output size, the subject's box in the output (remove.bg's
``X-Foreground-*``), the model, the edge level and the confidence score
(``X-Cutout-Edges``, ``X-Cutout-Confidence``: for sending doubtful cut-outs to a person)
and a ``Server-Timing`` of the engine's stages; a dialect adds its own headers
(remove.bg: ``X-Credits-Charged``, ``X-Type``) and the rate-limit headers after these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cutout.engine import STAGES, RemoveResult

__all__ = ["RESULT_HEADERS", "documented_headers", "result_headers"]

# name -> (JSON schema type, description), for the OpenAPI description of a response
RESULT_HEADERS: dict[str, tuple[str, str]] = {
    "X-Width": ("integer", "output width in px"),
    "X-Height": ("integer", "output height in px"),
    "X-Foreground-Top": ("integer", "subject box in the output"),
    "X-Foreground-Left": ("integer", "subject box in the output"),
    "X-Foreground-Width": ("integer", "subject box in the output"),
    "X-Foreground-Height": ("integer", "subject box in the output"),
    "X-Cutout-Confidence": (
        "number",
        "0-1, 3 decimals: how much of the subject's outline the edge stage could decide; "
        "low values mark cut-outs worth a person's look",
    ),
    "X-Cutout-Edges": ("string", "the edge refinement level that ran"),
    "Server-Timing": ("string", "per-stage times in ms"),
}


def _stage_order(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def result_headers(result: RemoveResult, *extra: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``result``, then those of each mapping in ``extra``, in order."""
    headers = {
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Model": result.model,
        "X-Cutout-Confidence": f"{result.confidence:.3f}",
        "X-Cutout-Edges": result.edges,
        "Server-Timing": ", ".join(
            f"{stage};dur={result.timings[stage] * 1000:.1f}"
            for stage in sorted(result.timings, key=_stage_order)
        ),
    }
    box = result.foreground
    if box is not None:
        headers.update(
            {
                "X-Foreground-Top": str(box.top),
                "X-Foreground-Left": str(box.left),
                "X-Foreground-Width": str(box.width),
                "X-Foreground-Height": str(box.height),
            }
        )
    for more in extra:
        headers.update(more)
    return headers


def documented_headers() -> dict[str, Any]:
    """:data:`RESULT_HEADERS` as an OpenAPI ``headers`` object."""
    return {
        name: {"schema": {"type": kind}, "description": text}
        for name, (kind, text) in RESULT_HEADERS.items()
    }
