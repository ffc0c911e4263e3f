"""``cutout remove --edges`` (and the deprecated ``--refine-edges``), ``--report``, and an
input's own transparency kept: the real command on the real u2netp model."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout.cli._options import build_options
from cutout.cli.main import build_parser
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES
from tests.transparent import half_transparent_png, transparent_columns

ANIMAL = EXAMPLES / "animal-1.jpg"
REPORT_FIELDS = {
    "input",
    "output",
    "status",
    "error",
    "confidence",
    "width",
    "height",
    "model",
    "edges",
    "seconds",
}


def _level(*flags: str) -> str:
    args = build_parser().parse_args(["remove", "photo.jpg", *flags])
    return build_options(args, "png").edges


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert set(line) == REPORT_FIELDS
    return lines


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ((), DEFAULT_EDGES),
        (("--edges", "off"), "off"),
        (("--edges", "fast"), "fast"),
        (("--refine-edges",), "best"),  # the old flag
        (("--refine-edges", "--edges", "fast"), "fast"),  # --edges wins
        (("--edges", "off", "--refine-edges"), "off"),
    ],
)
def test_edges_flag_and_its_deprecated_alias(
    flags: tuple[str, ...], level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _level(*flags) == level
    noted = "--refine-edges is deprecated" in capsys.readouterr().err
    assert noted == ("--refine-edges" in flags)


def test_help_offers_every_level_and_names_the_default() -> None:
    done = cutout("remove", "--help")
    text = " ".join(done.stdout.decode().split())
    assert "--edges {" + ",".join(EDGE_LEVELS) + "}" in text
    assert f"(default: {DEFAULT_EDGES})" in text
    assert "--refine-edges deprecated: the same as --edges best" in text


def test_a_bad_level_is_a_usage_error(tmp_path: Path) -> None:
    done = cutout("remove", ANIMAL, "-o", tmp_path / "out.png", "--edges", "bogus")
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr.decode()
    assert not (tmp_path / "out.png").exists()


def test_the_level_reaches_the_output(tmp_path: Path) -> None:
    masks = {}
    for level in ("off", "best"):
        report = tmp_path / f"{level}.jsonl"
        out = tmp_path / f"{level}.png"
        done = cutout("remove", ANIMAL, "-o", out, "--mask", "--edges", level, "--report", report)
        assert done.returncode == 0, done.stderr.decode()
        [line] = _lines(report)
        assert line["edges"] == level
        masks[level] = _pixels(out.read_bytes()).astype(int)
    assert (np.abs(masks["best"] - masks["off"]) > 8).sum() > 1000


def test_report_has_one_line_per_input_failed_and_skipped_too(tmp_path: Path) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / "good.jpg").write_bytes(ANIMAL.read_bytes())
    (photos / "broken.jpg").write_bytes(b"not an image")
    (photos / "done.jpg").write_bytes(ANIMAL.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "done.png").write_bytes(b"kept")
    missing = tmp_path / "missing.jpg"
    report = tmp_path / "report.jsonl"
    done = cutout(
        "remove", photos, missing, "-o", out, "--skip-existing", "--edges", "fast",
        "--report", report,
    )  # fmt: skip
    assert done.returncode == 1
    lines = {Path(line["input"]).name: line for line in _lines(report)}
    assert set(lines) == {"good.jpg", "broken.jpg", "done.jpg", "missing.jpg"}

    good = lines["good.jpg"]
    assert good["status"] == "ok" and good["error"] is None
    assert good["output"] == str(out / "good.png")
    assert 0.0 <= good["confidence"] <= 1.0
    assert (good["width"], good["height"]) == (1000, 667)
    assert good["model"] == "u2netp" and good["edges"] == "fast"
    assert good["seconds"] > 0

    for name in ("broken.jpg", "missing.jpg"):
        failed = lines[name]
        assert failed["status"] == "failed", failed
        assert failed["error"] and failed["error"] in done.stderr.decode()
        assert failed["confidence"] is None and failed["width"] is None
        assert failed["seconds"] is None
        assert failed["model"] == "u2netp" and failed["edges"] == "fast"
    assert lines["done.jpg"]["status"] == "skipped"
    assert (out / "done.png").read_bytes() == b"kept"


def test_report_with_stdin_and_stdout(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    done = cutout("remove", "-", "--report", report, stdin=ANIMAL.read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    [line] = _lines(report)
    assert (line["input"], line["output"], line["status"]) == ("<stdin>", "-", "ok")
    assert 0.0 <= line["confidence"] <= 1.0


@pytest.mark.parametrize("report", ["-", "no/such/folder/report.jsonl"])
def test_a_report_that_cannot_be_written_is_a_usage_error(tmp_path: Path, report: str) -> None:
    done = cutout("remove", ANIMAL, "-o", tmp_path / "out.png", "--report", report, cwd=tmp_path)
    assert done.returncode == 2
    assert "--report" in done.stderr.decode()
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "flags",
    [(), ("--mask",), ("--bg", "blue", "--format", "png"), ("--invert",)],
    ids=["cut-out", "mask", "colour", "invert"],
)
def test_an_rgba_inputs_transparent_half_stays_transparent(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    source = tmp_path / "cut-before.png"
    source.write_bytes(half_transparent_png())
    out = tmp_path / "out.png"
    done = cutout("remove", source, "-o", out, *flags)
    assert done.returncode == 0, done.stderr.decode()
    pixels = _pixels(out.read_bytes())
    hidden = transparent_columns(pixels.shape[1])
    if "--bg" in flags:
        assert pixels.shape[2] == 3
        assert (pixels[:, :hidden] == (0, 0, 255)).all()  # the new background shows
    else:
        alpha = pixels if pixels.ndim == 2 else pixels[..., 3]
        assert (alpha[:, :hidden] == 0).all()
        assert alpha[:, hidden:].max() == 255
