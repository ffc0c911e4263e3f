"""The case generator: deterministic, exact, and with fine structure in the band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.quality import metrics, synth
from bench.quality.backgrounds import KINDS
from bench.quality.subjects import SUBJECTS

SIZE = 160  # tiny: the tests are about the bookkeeping, not the look
COUNT = 4  # every subject, every kind of background


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cases")
    synth.write_cases(folder, COUNT, seed=7, size=SIZE)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_default_set_has_each_subject_on_each_kind_once() -> None:
    specs = synth.case_specs(12)
    pairs = {(spec.subject.name, spec.background) for spec in specs}
    assert len(pairs) == 12 == len(SUBJECTS) * len(KINDS)
    assert [spec.name for spec in specs[:2]] == ["case-01", "case-02"]
    first = synth.case_specs(COUNT)
    assert {spec.subject.name for spec in first} == {subject.name for subject in SUBJECTS}
    assert {spec.background for spec in first} == set(KINDS)


def test_same_seed_same_bytes(cases: Path, tmp_path: Path) -> None:
    synth.write_cases(tmp_path, COUNT, seed=7, size=SIZE)
    assert _files(tmp_path) == _files(cases)


def test_another_seed_other_cases(cases: Path) -> None:
    other = synth.make_case(synth.case_specs(1)[0], seed=8, size=SIZE)
    truth = synth.read_truth(cases, "case-01")
    assert not np.array_equal(other.alpha, truth.alpha)


def test_the_folder_layout(cases: Path) -> None:
    names = [f"case-{index:02d}" for index in range(1, COUNT + 1)]
    assert sorted(path.stem for path in (cases / "images").iterdir()) == names
    for name in names:
        for suffix in (".alpha.png", ".fg.png", ".bg.png", ".json"):
            assert (cases / "truth" / f"{name}{suffix}").is_file()
    assert (cases / "cases.json").is_file()


@pytest.mark.parametrize("index", range(COUNT))
def test_composite_is_exact(cases: Path, index: int) -> None:
    """I == alpha F + (1 - alpha) B within the 8-bit rounding, from the stored files."""
    from PIL import Image

    name = f"case-{index + 1:02d}"
    truth = synth.read_truth(cases, name)
    with Image.open(cases / "images" / f"{name}.png") as opened:
        assert opened.mode == "RGB"
        image = np.asarray(opened, np.float64)
    expected = metrics.recomposite(truth.alpha, truth.foreground, truth.background)
    assert np.abs(image - expected).max() <= 0.5 + 1e-9
    assert truth.alpha.min() >= 0.0
    assert truth.alpha.max() <= 1.0
    assert (truth.alpha == 1.0).any()  # a body


@pytest.mark.parametrize("index", range(COUNT))
def test_fine_structure_fills_the_band(cases: Path, index: int) -> None:
    truth = synth.read_truth(cases, f"case-{index + 1:02d}")
    band = metrics.edge_band(truth.alpha, truth.info["band_radius"])
    partial = metrics.unknown_region(truth.alpha)
    assert truth.info["kind"] in KINDS
    share = partial.sum() / band.sum()
    assert share == pytest.approx(truth.info["partial_share_of_band"], abs=1e-4)
    # the elephant has only sparse hair; fur and hair fill a good part of the band
    assert share > (0.05 if truth.info["subject"] == "elephant" else 0.15)
    assert sum(v for k, v in truth.info["strands"].items() if k != "fluff_pixels") > 0


def test_foreground_is_defined_wherever_alpha_is_not_zero(cases: Path) -> None:
    truth = synth.read_truth(cases, "case-01")
    visible = truth.alpha > 0
    assert (truth.foreground[~visible] == 0).all()
    assert truth.foreground[visible].max() > 0


def test_cache_key_changes_with_the_parameters() -> None:
    key = synth.cache_key(12, 0, 1200)
    assert key == synth.cache_key(12, 0, 1200)
    assert len({key, synth.cache_key(12, 1, 1200), synth.cache_key(4, 0, 1200)}) == 3
