"""The benchmark runner: the method table, the scoring of a tool's outputs, the tables."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from bench.quality import run, synth
from bench.quality.score import read_confidences
from bench.quality.tables import print_ratios, print_table

# a "tool" that writes the exact truth as its cut-outs (8-bit alpha), and a report
_PERFECT = """
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
images, out, report = map(Path, sys.argv[1:4])
lines = []
for index, path in enumerate(sorted(images.glob("*.png"))):
    truth = images.parent / "truth" / path.stem
    alpha = np.asarray(Image.open(f"{truth}.alpha.png"), np.float64) / 65535
    colour = np.asarray(Image.open(f"{truth}.fg.png").convert("RGB"))
    rgba = np.dstack([colour, np.round(alpha * 255).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(out / path.name)
    lines.append(json.dumps({"input": str(path), "confidence": 0.5 + 0.1 * index}))
report.write_text("\\n".join(lines) + "\\n")
"""


def test_the_method_table() -> None:
    names = [method.name for method in run.METHODS]
    assert names == [
        "cutout",
        "cutout --edges off",
        "cutout --edges fast",
        "cutout --edges best",
        "rembg",
        "rembg -a",
    ]
    assert run.REFERENCE in names
    level = run.cutout("--edges", "best")
    assert level.name == "cutout --edges best"
    assert level.arguments == ("remove", "{input}", "-o", "{output}", "--edges", "best")
    assert run.rembg("-a").arguments == ("p", "-m", "u2netp", "-a", "{input}", "{output}")


def test_methods_are_selected_by_name() -> None:
    assert [m.name for m in run._select("rembg -a, cutout")] == ["rembg -a", "cutout"]
    with pytest.raises(SystemExit, match="unknown method"):
        run._select("cutout,magic")


def test_read_confidences(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    lines = [
        {"input": "/x/case-01.png", "confidence": 0.9},
        {"path": "case-02.png", "confidence": 1},
        {"input": "case-03.png"},  # no confidence: ignored
        {"confidence": 0.1},  # no image: ignored
    ]
    report.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    assert read_confidences(report) == {"case-01": 0.9, "case-02": 1.0}


def test_a_perfect_tool_scores_next_to_nothing(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    synth.write_cases(cases, 2, seed=3, size=120)
    script = tmp_path / "perfect.py"
    script.write_text(_PERFECT)
    method = run.Method("perfect", "fake", ("{input}", "{output}", "{report}"), report=True)
    programs = {"fake": [sys.executable, str(script)]}
    outcome = run.run_method(method, programs, cases, tmp_path / "out", env={})
    assert outcome.errors == []
    assert sorted(outcome.cases) == ["case-01", "case-02"]
    assert outcome.images == 2
    assert outcome.seconds > 0
    for scores in outcome.cases.values():
        assert scores["band_mse"] < 1e-5  # 8-bit rounding of alpha only
        assert scores["band_conn"] < 0.01
        assert max(scores["rc_white"], scores["rc_black"], scores["rc_photo"]) < 0.5
    assert outcome.confidence == {"case-01": 0.5, "case-02": 0.6}
    assert outcome.correlation() is not None
    # a second run into the same folder starts from an empty one
    (tmp_path / "out" / "stale.png").write_bytes(b"")
    again = run.run_method(method, programs, cases, tmp_path / "out", env={})
    assert again.cases == outcome.cases
    assert not (tmp_path / "out" / "stale.png").exists()


def test_a_missing_tool_is_skipped_with_how_to_install(tmp_path: Path) -> None:
    outcome = run.run_method(run.rembg("-a"), {}, tmp_path, tmp_path / "out", env={})
    assert not outcome.cases
    assert "pip install" in outcome.errors[0]


def test_missing_outputs_are_errors(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    synth.write_cases(cases, 1, seed=3, size=120)
    method = run.Method("idle", "fake", ())
    outcome = run.run_method(
        method, {"fake": [sys.executable, "-c", "pass"]}, cases, tmp_path / "out", env={}
    )
    assert outcome.errors == ["case-01: no output"]
    assert math.isnan(run.Outcome("none").per_image)


def test_means_over_all_cases_or_some() -> None:
    outcome = run.Outcome("m", cases={"a": {"band_sad": 1.0}, "b": {"band_sad": 3.0}})
    assert outcome.mean() == {"band_sad": 2.0}
    assert outcome.mean(["b", "z"]) == {"band_sad": 3.0}
    assert outcome.mean(["z"]) == {}
    assert outcome.correlation() is None  # no confidences


def test_tables_leave_out_an_empty_confidence_column(capsys: pytest.CaptureFixture[str]) -> None:
    scores = {"band_sad": 2.0, "band_mse": 0.05, "rc_white": 4.0, "rc_black": 8.0}
    reference = {"band_sad": 1.0, "band_mse": 0.1, "rc_white": 4.0, "rc_black": 2.0}
    rows = {"cutout": scores, "rembg -a": reference}
    extra = {"cutout": {"s/img": 1.0, "rho": None}, "rembg -a": {"s/img": 10.0, "rho": None}}
    print_table("mean", rows, extra)
    print_ratios(rows, extra, "rembg -a")
    printed = capsys.readouterr().out
    assert "s/img" in printed
    assert "rho" not in printed
    assert "band SAD 2.00x, band MSE 0.50x, white 1.00x, black 4.00x, time 0.10x" in printed
    extra["cutout"]["rho"] = 0.5
    print_table("mean", rows, extra)
    assert "rho" in capsys.readouterr().out
