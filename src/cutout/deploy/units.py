"""Cloud Run resource quantities: ``"4"``, ``"4000m"``, ``"0.5"`` vCPU; ``"16Gi"``, ``"512Mi"``.

The Run API keeps CPU and memory as Kubernetes quantity strings; quotas count milli-vCPU
and bytes. These two parsers and two formatters are the only place that converts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from cutout.errors import ConfigError

__all__ = ["format_cpu", "format_memory", "parse_cpu", "parse_memory"]

_MEMORY_SUFFIXES: dict[str, int] = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_cpu(value: str | int | float) -> int:
    """``"4"`` -> 4000, ``"4000m"`` -> 4000, ``"0.5"`` -> 500 (milli-vCPU)."""
    text = str(value)
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in ("", "m"):
        raise ConfigError(f"not a CPU quantity: {text!r} (use e.g. '4' or '4000m')")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise ConfigError(f"not a CPU quantity: {text!r}") from exc
    milli = number if match.group(2) == "m" else number * 1000
    if milli != milli.to_integral_value():
        raise ConfigError(f"CPU quantity {text!r} is finer than 1 milli-vCPU")
    return int(milli)


def parse_memory(value: str | int) -> int:
    """``"16Gi"`` -> 17179869184, ``"512Mi"`` -> 536870912, ``"1G"`` -> 10**9 (bytes)."""
    text = str(value)
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in _MEMORY_SUFFIXES:
        raise ConfigError(f"not a memory quantity: {text!r} (use e.g. '16Gi' or '512Mi')")
    number = Decimal(match.group(1)) * _MEMORY_SUFFIXES[match.group(2)]
    if number != number.to_integral_value():
        raise ConfigError(f"memory quantity {text!r} is not a whole number of bytes")
    return int(number)


def format_cpu(milli: int) -> str:
    """4000 -> ``"4"``, 500 -> ``"500m"``: the spelling Cloud Run shows."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_memory(num_bytes: int) -> str:
    """17179869184 -> ``"16Gi"``; whole Gi, else Mi, else bytes."""
    for suffix in ("Gi", "Mi", "Ki"):
        unit = _MEMORY_SUFFIXES[suffix]
        if num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)
