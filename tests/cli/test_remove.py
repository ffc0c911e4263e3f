"""``cutout remove`` end to end: the real command, the real u2netp model, real photos."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.cli._paths import IMAGE_SUFFIXES
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES
from tests.corpus import all_cases

ANIMAL = EXAMPLES / "animal-1.jpg"


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _rgba(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _is_cutout_of(path: Path, size: tuple[int, int]) -> None:
    image = _rgba(path.read_bytes())
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.size == size
    alpha = np.asarray(image)[..., 3]
    # a real matte: a transparent background and an opaque subject
    assert (alpha < 10).mean() > 0.1
    assert (alpha > 245).mean() > 0.05


@pytest.fixture
def photos(tmp_path: Path, shared_images: Path) -> Path:
    """in/animal-1.jpg, in/pets/animal-2.jpg, in/pets/plants-1-really-png.jpg (a PNG)."""
    folder = tmp_path / "in"
    (folder / "pets").mkdir(parents=True)
    shutil.copy(ANIMAL, folder / "animal-1.jpg")
    shutil.copy(EXAMPLES / "animal-2.jpg", folder / "pets" / "animal-2.jpg")
    shutil.copy(shared_images / "plants-1-really-png.jpg", folder / "pets" / "plants.jpg")
    return folder


def test_single_file_writes_cutout_beside_it(tmp_path: Path) -> None:
    source = tmp_path / "animal-1.jpg"
    shutil.copy(ANIMAL, source)
    done = cutout("remove", source)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    _is_cutout_of(tmp_path / "animal-1.cutout.png", _size(ANIMAL))
    assert source.read_bytes() == ANIMAL.read_bytes()


def test_output_file_format_follows_its_extension(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "result.webp"
    done = cutout("remove", ANIMAL, "-o", target)
    assert done.returncode == 0, done.stderr.decode()
    image = _rgba(target.read_bytes())
    assert image.format == "WEBP"
    assert image.mode == "RGBA"


def test_jpg_with_colour_background_and_crop(tmp_path: Path) -> None:
    target = tmp_path / "out.jpg"
    done = cutout("remove", ANIMAL, "-o", target, "--bg", "white", "--crop", "--margin", "5%")
    assert done.returncode == 0, done.stderr.decode()
    image = _rgba(target.read_bytes())
    assert image.format == "JPEG"
    width, height = _size(ANIMAL)
    assert image.width < width or image.height < height  # cropped to the subject


def test_mask_output_is_single_channel(tmp_path: Path) -> None:
    target = tmp_path / "mask.png"
    done = cutout("remove", ANIMAL, "-o", target, "--mask")
    assert done.returncode == 0, done.stderr.decode()
    assert _rgba(target.read_bytes()).mode == "L"


def test_folder_is_mirrored_under_output(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cutout("remove", photos, "-o", out, "--quiet")
    assert done.returncode == 0, done.stderr.decode()
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert written == ["animal-1.png", "pets/animal-2.png", "pets/plants.png"]
    _is_cutout_of(out / "pets" / "animal-2.png", _size(EXAMPLES / "animal-2.jpg"))


def test_quoted_glob_is_expanded(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cutout("remove", "in/**/animal-*.jpg", "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert written == ["animal-1.png", "pets/animal-2.png"]


def test_stdin_to_stdout() -> None:
    done = cutout("remove", "-", stdin=ANIMAL.read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    image = _rgba(done.stdout)
    assert image.format == "PNG"
    assert image.size == _size(ANIMAL)


def test_file_to_stdout_as_zip() -> None:
    done = cutout("remove", ANIMAL, "-o", "-", "--format", "zip")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout[:2] == b"PK"


def test_skip_existing_leaves_existing_outputs(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "pets").mkdir(parents=True)
    (out / "pets" / "animal-2.png").write_bytes(b"kept")
    done = cutout("remove", photos, "-o", out, "--skip-existing")
    assert done.returncode == 0, done.stderr.decode()
    assert (out / "pets" / "animal-2.png").read_bytes() == b"kept"
    assert (out / "animal-1.png").is_file()
    assert (out / "pets" / "plants.png").is_file()


def test_never_overwrites_an_input(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    with Image.open(ANIMAL) as image:
        image.save(source)
    before = source.read_bytes()
    done = cutout("remove", source, "-o", source)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"cutout: {source}: refusing to overwrite the input file {source}\n"
    )
    assert source.read_bytes() == before


def test_output_escaping_the_output_folder_is_refused(photos: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "pets").symlink_to(outside)
    done = cutout("remove", photos, "-o", out)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 2
    assert all("escapes the output folder" in line for line in lines)
    assert list(outside.iterdir()) == []
    assert (out / "animal-1.png").is_file()


def test_bad_inputs_fail_one_line_each_and_good_ones_are_written(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    other = tmp_path / "other"  # types a folder scan skips (.pdf, .svg) are named directly
    folder.mkdir()
    other.mkdir()
    named: list[Path] = []
    expected_error: dict[Path, bool] = {}
    for case in all_cases():
        suffix = Path(case.name).suffix
        # one stem per case, so that photo.heic and photo.avif do not share an output
        file_name = f"{Path(case.name).stem}_{suffix.lstrip('.')}{suffix}"
        scanned = suffix.lower() in IMAGE_SUFFIXES
        path = (folder if scanned else other) / file_name
        path.write_bytes(case.data)
        expected_error[path] = case.error is not None
        if not scanned:
            named.append(path)
    shutil.copy(ANIMAL, folder / "good.jpg")
    expected_error[folder / "good.jpg"] = False
    out = tmp_path / "out"
    done = cutout("remove", folder, *named, "-o", out)
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    failing = [path for path, error in expected_error.items() if error]
    assert len(failing) >= 5, "the corpus has failing cases"
    assert len(lines) == len(failing), stderr
    for path in failing:
        [line] = [line for line in lines if line.startswith(f"cutout: {path}: ")]
        assert len(line) > len(f"cutout: {path}: ")
        assert not (out / f"{path.stem}.png").exists()
    for path, error in expected_error.items():
        if not error:
            assert (out / f"{path.stem}.png").is_file(), path


def test_missing_input_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    done = cutout("remove", tmp_path / "nope.jpg", ANIMAL, "-o", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.decode() == f"cutout: {tmp_path / 'nope.jpg'}: no such file or directory\n"
    assert (tmp_path / "out" / "animal-1.png").is_file()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    done = cutout("--debug", "remove", bad)
    assert done.returncode == 1
    assert "Traceback" in done.stderr.decode()
    plain = cutout("remove", bad)
    assert plain.returncode == 1
    [line] = plain.stderr.decode().splitlines()
    assert line.startswith(f"cutout: {bad}: not a readable image")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["remove"], "required"),
        (["remove", "x.jpg", "--model", "nonsense"], "invalid choice"),
        (["remove", "x.jpg", "--bolder"], "unrecognized arguments"),
        (["remove", str(ANIMAL), "--bg", "not-a-colour"], "not-a-colour"),
        (["remove", str(ANIMAL), "--margin", "10"], "--margin needs --crop"),
        (["remove", str(ANIMAL), "--canvas", "big"], "canvas"),
        (["remove", str(ANIMAL), "--threshold", "7"], "threshold"),
        (["remove", "-", str(ANIMAL)], "stdin"),
        (["remove", str(EXAMPLES), "-o", "-"], "stdout"),
        (["remove", str(ANIMAL), "-o", "out.gif"], "--format"),
        (["models"], "required"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    done = cutout(*argv, cwd=tmp_path)
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert message in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_name_model_url_and_manual_step(tmp_path: Path) -> None:
    done = cutout(
        "remove", ANIMAL, "-o", tmp_path / "x.png", "--model", "inspyrenet-fast",
        env={"CUTOUT_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert "inspyrenet-fast" in line
    assert "https://" in line
    assert "cutout models pull inspyrenet-fast" in line
    assert not (tmp_path / "x.png").exists()
