"""Typed readers for request parameters that arrive as strings (query, form or JSON).

Each raises :class:`InvalidOptionError` with ``code="invalid_<name>"`` so that a bad
value is a 400 naming the parameter, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutout.errors import InvalidOptionError

__all__ = ["Params", "parse_bool", "parse_float"]

_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}


def parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidOptionError(f"{name} must be true or false, not {value!r}", code=f"invalid_{name}")


def parse_float(name: str, value: object, low: float, high: float) -> float:
    try:
        number = float(str(value).strip().removesuffix("%"))
    except ValueError:
        raise InvalidOptionError(
            f"{name} must be a number, not {value!r}", code=f"invalid_{name}"
        ) from None
    if not low <= number <= high:
        raise InvalidOptionError(
            f"{name} must be between {low:g} and {high:g}, not {number:g}", code=f"invalid_{name}"
        )
    return number


class Params:
    """Parameters merged from several sources; later sources win."""

    def __init__(self, *sources: Mapping[str, object]) -> None:
        self._values: dict[str, object] = {}
        for source in sources:
            for key, value in source.items():
                self._values[key.replace("-", "_")] = value

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def raw(self, name: str) -> object:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        value = self._values.get(name)
        return value is not None and value != ""

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        return parse_bool(name, value)

    def number(self, name: str, low: float, high: float) -> float | None:
        value = self._values.get(name)
        if value is None or value == "":
            return None
        return parse_float(name, value, low, high)
