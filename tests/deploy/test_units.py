"""Cloud Run quantity strings <-> quota units."""

from __future__ import annotations

import pytest

from cutout.deploy.units import format_cpu, format_memory, parse_cpu, parse_memory
from cutout.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "milli"), [("4", 4000), ("4000m", 4000), ("0.5", 500), ("1.25", 1250), (8, 8000)]
)
def test_parse_cpu(text: str, milli: int) -> None:
    assert parse_cpu(text) == milli


@pytest.mark.parametrize(
    ("text", "size"),
    [("16Gi", 16 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("2048", 2048), ("1Ki", 1024)],
)
def test_parse_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["four", "4 cores", "-1", "0.0001", "4k"])
def test_bad_cpu(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_cpu(text)


@pytest.mark.parametrize("text", ["16GB", "lots", "1.5", "Gi"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_memory(text)


def test_format_round_trips() -> None:
    assert format_cpu(4000) == "4" and format_cpu(500) == "500m"
    assert format_memory(16 * 2**30) == "16Gi" and format_memory(512 * 2**20) == "512Mi"
    assert format_memory(1000) == "1000"
    for milli in (1000, 1500, 8000):
        assert parse_cpu(format_cpu(milli)) == milli
