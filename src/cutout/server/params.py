"""Request parameters that arrive as strings (query, form or JSON), merged by name.

Flags are read here; a bad one raises :class:`InvalidOptionError` with
``code="invalid_<name>"``, so that it is a 400 naming the parameter, never a 500. Every
other value is read by the parsers of :mod:`cutout.options`, which also hold the ranges.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutout.errors import InvalidOptionError

__all__ = ["Params", "parse_bool"]

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

    def has(self, name: str) -> bool:
        value = self._values.get(name)
        return value is not None and value != ""

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        return parse_bool(name, value)
