"""Plain-text tables of the scores: one per case, the means, ratios to a reference."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bench.quality.score import COLUMNS

__all__ = ["print_ratios", "print_table"]

_NAME = 24
_CELL = 8
_GROUPS = (("edge band", 4), ("whole image", 4), ("re-composite", 3))
# (key in the extra columns, heading, format)
_EXTRA = (("s/img", "s/img", "{:8.2f}"), ("rho", "rho", "{:8.2f}"))
RATIOS = (
    ("band_sad", "band SAD"),
    ("band_mse", "band MSE"),
    ("rc_white", "white"),
    ("rc_black", "black"),
    ("s/img", "time"),
)

Scores = Mapping[str, float]
Extra = Mapping[str, float | None]


def _cell(value: float | None, template: str = "{:8.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{_CELL}}"
    return template.format(value)


def print_table(
    title: str, rows: Mapping[str, Scores], extra: Mapping[str, Extra] | None = None
) -> None:
    """Methods as rows, scores as columns (MSE in 1e-3); extra columns when given and
    when at least one method has a value for them (a column of nothing is left out)."""
    shown = [
        (key, heading, template)
        for key, heading, template in _EXTRA
        if extra and any(values.get(key) is not None for values in extra.values())
    ]
    groups = "".join(f" {f' {name} ':-^{count * _CELL - 1}}" for name, count in _GROUPS)
    headings = "".join(f"{column.heading:>{_CELL}}" for column in COLUMNS)
    headings += "".join(f"{heading:>{_CELL}}" for _, heading, _ in shown)
    print(f"\n{title}")
    print(f"{'':<{_NAME}}{groups}")
    print(f"{'method':<{_NAME}}{headings}")
    for method, scores in rows.items():
        cells = "".join(
            _cell(scores.get(column.key, math.nan) * column.factor) for column in COLUMNS
        )
        values = (extra or {}).get(method, {})
        cells += "".join(_cell(values.get(key), template) for key, _, template in shown)
        print(f"{method:<{_NAME}}{cells}")


def print_ratios(means: Mapping[str, Scores], extra: Mapping[str, Extra], reference: str) -> None:
    """Each method's band SAD, band MSE, re-composite on white and black, and time, as
    multiples of ``reference``'s (below 1: better or faster)."""
    if reference not in means:
        return
    base = {**means[reference], **extra.get(reference, {})}
    print(f"\nratios to {reference} (below 1: lower error or faster)")
    for method, scores in means.items():
        if method == reference:
            continue
        values = {**scores, **extra.get(method, {})}
        parts = []
        for key, label in RATIOS:
            value, unit = values.get(key), base.get(key)
            if value is None or not unit:
                continue
            parts.append(f"{label} {value / unit:.2f}x")
        print(f"  {method:<{_NAME}}" + ", ".join(parts))
