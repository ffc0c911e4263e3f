"""``cutout remove`` options reach the output; the progress bar on a terminal; Ctrl-C."""

from __future__ import annotations

import io
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cutout.models.registry import get_spec
from cutout.models.weights import embedded_path
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES

ANIMAL = EXAMPLES / "animal-1.jpg"


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image.copy()


def test_canvas_fill_and_shadow(tmp_path: Path) -> None:
    target = tmp_path / "canvas.png"
    done = cutout(
        "remove", ANIMAL, "-o", target, "--canvas", "400x300", "--fill", "50%", "--shadow"
    )
    assert done.returncode == 0, done.stderr.decode()
    assert _open(target).size == (400, 300)


def test_threshold_gives_a_hard_alpha_and_invert_flips_it(tmp_path: Path) -> None:
    hard, inverted = tmp_path / "hard.png", tmp_path / "inverted.png"
    assert cutout("remove", ANIMAL, "-o", hard, "--mask", "--threshold", "0.5").returncode == 0
    done = cutout("remove", ANIMAL, "-o", inverted, "--mask", "--threshold", "0.5", "--invert")
    assert done.returncode == 0, done.stderr.decode()
    alpha = np.asarray(_open(hard))
    assert set(np.unique(alpha).tolist()) == {0, 255}
    flipped = np.asarray(_open(inverted))
    assert (flipped.astype(int) + alpha == 255).mean() > 0.99


def test_background_image_and_blur(tmp_path: Path, shared_images: Path) -> None:
    for background in (str(shared_images / "background.jpg"), "blur", "#336699"):
        target = tmp_path / "with-bg.png"
        done = cutout("remove", ANIMAL, "-o", target, "--bg", background)
        assert done.returncode == 0, done.stderr.decode()
        image = _open(target)
        assert image.size == _open(ANIMAL).size
        # a background makes the picture opaque
        if image.mode == "RGBA":
            assert np.asarray(image)[..., 3].min() == 255


def test_weights_from_environment(tmp_path: Path) -> None:
    mine = tmp_path / "my-u2netp.onnx"
    shutil.copy(embedded_path(get_spec("u2netp")), mine)
    done = cutout("remove", ANIMAL, "-o", tmp_path / "a.png", env={"CUTOUT_WEIGHTS": str(mine)})
    assert done.returncode == 0, done.stderr.decode()
    missing = tmp_path / "gone.onnx"
    done = cutout("remove", ANIMAL, "-o", tmp_path / "b.png", env={"CUTOUT_WEIGHTS": str(missing)})
    assert done.returncode == 1
    assert str(missing) in done.stderr.decode()
    assert not (tmp_path / "b.png").exists()


def test_cuda_on_a_machine_without_it_is_one_clear_line(tmp_path: Path) -> None:
    done = cutout("remove", ANIMAL, "-o", tmp_path / "a.png", "--device", "cuda")
    if done.returncode == 0:  # a machine with a CUDA provider
        assert (tmp_path / "a.png").is_file()
        return
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("cutout: ") and "cuda" in line.lower()


def test_too_many_megapixels_fails_that_file(tmp_path: Path) -> None:
    done = cutout("remove", ANIMAL, "-o", tmp_path / "a.png", "--max-megapixels", "0.1")
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith(f"cutout: {ANIMAL}: ") and "MP" in line


def test_progress_bar_on_a_terminal_keeps_failures_on_their_own_lines(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(ANIMAL, folder / "a.jpg")
    shutil.copy(EXAMPLES / "car-2.jpg", folder / "b.jpg")
    (folder / "c.png").write_bytes(b"not a picture")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cutout.cli.main", "remove", str(folder), "-o", str(tmp_path / "o")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = io.BytesIO()
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.write(data)
    os.close(master)
    assert process.wait(timeout=120) == 1
    text = chunks.getvalue().decode()
    assert "3/3" in text
    assert "[" + "#" * 24 + "]" in text
    failure = f"cutout: {folder / 'c.png'}: "
    # the failure line starts after the bar was cleared and ends with a newline
    assert "\x1b[K" + failure in text
    line = text[text.index(failure) :].split("\n")[0]
    assert "\r" not in line.rstrip("\r")
    assert "cutout: 2 written, 1 failed" in text
    assert (tmp_path / "o" / "a.png").is_file() and (tmp_path / "o" / "b.png").is_file()


def test_interrupt_stops_cleanly_without_partial_files(tmp_path: Path, shared_images: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(30):
        os.link(shared_images / "aeroplane.jpg", folder / f"plane-{index:02}.jpg")  # 8 MP each
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "cutout.cli.main", "remove", str(folder), "-o", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # interrupt once the run is under way (the first output exists), not during start-up
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        assert process.poll() is None, "cutout ended before it was interrupted"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr.decode() == "cutout: interrupted\n"
    written = sorted(path.name for path in out.iterdir())
    assert all(name.endswith(".png") and not name.startswith(".") for name in written)
    assert 0 < len(written) < 30
    for name in written:  # every file that exists is complete
        with Image.open(out / name) as image:
            image.load()
