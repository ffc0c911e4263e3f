"""``cutout models``, ``cutout info`` and ``cutout bench``, run as the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutout import __version__
from cutout.models.registry import get_spec, model_names
from cutout.models.weights import embedded_path
from tests.cli.runner import cutout
from tests.conftest import EXAMPLES
from tests.models.weights_server import WeightsServer, serve


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"CUTOUT_HOME": str(tmp_path / "home")}


@pytest.fixture
def server() -> Iterator[WeightsServer]:
    with serve() as running:
        yield running


def test_models_list_shows_every_model(home: dict[str, str]) -> None:
    done = cutout("models", "list", env=home)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0].split()[:5] == ["NAME", "FAMILY", "INPUT", "BACKEND", "WEIGHTS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(model_names())
    assert rows["u2netp"][1:5] == ["u2net", "320px", "onnx", "embedded"]
    assert rows["inspyrenet-fast"][4] == "missing"
    assert rows["inspyrenet-fast"][-1] == home["CUTOUT_HOME"] + "/weights/ckpt_fast.pth"


def test_models_list_json_reports_presence(home: dict[str, str]) -> None:
    cache = Path(home["CUTOUT_HOME"]) / "weights"
    cache.mkdir(parents=True)
    (cache / "ckpt_fast.pth").write_bytes(b"x")
    done = cutout("models", "list", "--json", env=home)
    records = {record["name"]: record for record in json.loads(done.stdout)}
    assert records["inspyrenet-fast"]["present"] is True
    assert records["inspyrenet-base"]["present"] is False
    assert records["u2netp"]["weights"] == str(embedded_path(get_spec("u2netp")))
    assert records["u2netp"]["licence"].startswith("Apache-2.0")


def test_models_verify_checks_embedded_sha256(home: dict[str, str]) -> None:
    done = cutout("models", "verify", "u2netp", env=home)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("u2netp: sha256 OK")
    assert str(get_spec("u2netp").weights.sha256) in done.stdout.decode()


def test_models_verify_reports_a_damaged_cached_file(home: dict[str, str]) -> None:
    cache = Path(home["CUTOUT_HOME"]) / "weights"
    cache.mkdir(parents=True)
    (cache / "ckpt_fast.pth").write_bytes(b"not the checkpoint")
    done = cutout("models", "verify", env=home)
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("cutout: inspyrenet-fast: ")
    assert "md5" in line and "does not match" in line
    assert "u2netp: sha256 OK" in done.stdout.decode()


def test_models_verify_named_missing_model_fails(home: dict[str, str]) -> None:
    done = cutout("models", "verify", "inspyrenet-base", env=home)
    assert done.returncode == 1
    assert "cutout models pull inspyrenet-base" in done.stdout.decode()


def test_models_pull_embedded_needs_no_network(home: dict[str, str]) -> None:
    done = cutout("models", "pull", "u2netp", env=home)
    assert done.returncode == 0, done.stderr.decode()
    assert "ships inside cutout" in done.stdout.decode()
    assert not Path(home["CUTOUT_HOME"]).exists()


def test_models_pull_from_a_mirror_downloads_and_verifies(
    home: dict[str, str], tmp_path: Path
) -> None:
    model = embedded_path(get_spec("u2netp")).read_bytes()
    with serve() as server:
        server.files["/u2netp.onnx"] = model
        done = cutout(
            "models", "pull", "u2netp", "--url", server.base_url + "/u2netp.onnx", env=home
        )
    assert done.returncode == 0, done.stderr.decode()
    cached = Path(home["CUTOUT_HOME"]) / "weights" / "u2netp.onnx"
    assert cached.read_bytes() == model
    assert "verified" in done.stdout.decode()


def test_models_pull_wrong_file_is_a_checksum_error(
    home: dict[str, str], server: WeightsServer
) -> None:
    done = cutout(
        "models", "pull", "inspyrenet-fast", "--url", server.base_url + "/good.bin", env=home
    )
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("cutout: downloaded weights for model inspyrenet-fast")
    assert not (Path(home["CUTOUT_HOME"]) / "weights" / "ckpt_fast.pth").exists()
    left = [path.name for path in (Path(home["CUTOUT_HOME"]) / "weights").iterdir()]
    assert left == ["ckpt_fast.pth.lock"]


def test_models_pull_offline_names_model_url_and_manual_step(home: dict[str, str]) -> None:
    with serve() as stopped:
        url = stopped.base_url + "/ckpt_fast.pth"
    done = cutout("models", "pull", "inspyrenet-fast", "--url", url, env=home)
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert "inspyrenet-fast" in line
    assert url in line
    assert "offline" in line
    assert "--weights PATH" in line
    assert "Traceback" not in done.stderr.decode()


def test_info_json(home: dict[str, str]) -> None:
    done = cutout("info", "--json", env=home)
    assert done.returncode == 0, done.stderr.decode()
    info = json.loads(done.stdout)
    assert info["versions"]["cutout"] == __version__
    assert info["versions"]["numpy"]
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert info["devices"]["cpu_cores"] >= 1
    assert 1 <= info["devices"]["usable_cpus"] <= info["devices"]["cpu_cores"]
    models = {model["name"]: model for model in info["models"]}
    assert models["u2netp"]["present"] is True
    assert models["inspyrenet-fast"]["weights"].startswith(home["CUTOUT_HOME"])
    assert info["weights_cache"] == home["CUTOUT_HOME"] + "/weights"


def test_info_text(home: dict[str, str]) -> None:
    done = cutout("info", env=home)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    for heading in ("versions", "devices", "onnxruntime providers"):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "CPUExecutionProvider" in text
    assert f"\nmodels (weights cache: {home['CUTOUT_HOME']}/weights)\n" in text


def test_bench_prints_a_table_of_stage_medians() -> None:
    done = cutout("bench", "--runs", "1", "--edges", "fast", EXAMPLES / "car-2.jpg")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("model u2netp on cpu")
    assert "edges fast" in lines[0]
    header = lines[1].split()
    assert header == [
        "image", "size", "decode", "preprocess", "infer", "postprocess", "edges", "compose",
        "encode", "total",
    ]  # fmt: skip
    row = lines[2].split()
    assert row[0] == "car-2.jpg"
    values = [float(value) for value in row[-8:]]
    assert all(value >= 0 for value in values)
    assert values[2] > 0 and values[4] > 0  # infer, edges
    assert values[-1] >= max(values[:-1])


def test_bench_zero_runs_is_a_usage_error(tmp_path: Path) -> None:
    done = cutout("bench", "--runs", "0", cwd=tmp_path)
    assert done.returncode == 2


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cutout.cli.main", "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `cutout info | head -0`, before cutout writes anything
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
