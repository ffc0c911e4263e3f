"""Colour parsing: every form remove.bg's bg_color and the CLI's --bg accept."""

from __future__ import annotations

import pytest

from cutout.colors import parse_color
from cutout.errors import InvalidOptionError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("81d4fa", (0x81, 0xD4, 0xFA, 255)),
        ("#81D4FA", (0x81, 0xD4, 0xFA, 255)),
        ("fff", (255, 255, 255, 255)),
        ("#0f08", (0, 255, 0, 0x88)),
        ("ff000080", (255, 0, 0, 0x80)),
        ("  white ", (255, 255, 255, 255)),
        ("RebeccaPurple", (0x66, 0x33, 0x99, 255)),
        ("transparent", (0, 0, 0, 0)),
        ("rgb(10, 20, 30)", (10, 20, 30, 255)),
        ("rgba(255,0,0,128)", (255, 0, 0, 128)),
        ("hsl(120, 100%, 50%)", (0, 255, 0, 255)),
    ],
)
def test_parses_hex_and_names(text: str, expected: tuple[int, int, int, int]) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "#12", "12345", "1234567", "ggg", "notacolour", "#1234567890", "rgb(1,2)", "hsl(x)"],
)
def test_rejects_other_text_with_remove_bg_code(text: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_color(text)
    assert caught.value.code == "invalid_bg_color"
    assert repr(text) in caught.value.message
