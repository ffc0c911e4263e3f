"""The Dockerfile (Docker cannot run here): targets, bases, user, weights layer, and the
same install steps and torch pin as .ci/run, so CI exercises what the image runs."""

from __future__ import annotations

import re

import pytest

from cutout.models.registry import model_names
from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = ""
    for line in DOCKERFILE.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line)
        if match:
            current = match.group(2)
            stages[current] = [line]
        elif current and line.strip() and not line.startswith("#"):
            stages[current].append(line)
    return stages


def _arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    assert match, name
    return match.group(1)


def test_targets_and_bases() -> None:
    stages = _stages()
    assert {"cpu", "gpu", "weights-download", "weights-context", "weights"} <= set(stages)
    assert _arg("PYTHON_IMAGE") == "python:3.11-slim"
    cuda = _arg("CUDA_IMAGE")
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.04", cuda)
    assert re.fullmatch(r"cu12\d", _arg("TORCH_CUDA")), "torch must be a CUDA 12.x build"
    assert stages["cpu-install"][0].startswith("FROM ${PYTHON_IMAGE}")
    assert stages["gpu-install"][0].startswith("FROM ${CUDA_IMAGE}")


def test_torch_pin_matches_ci() -> None:
    ci_pin = re.search(r"pip install -q torch==(\S+)", CI)
    assert ci_pin is not None
    assert _arg("TORCH_VERSION") == ci_pin.group(1)


@pytest.mark.parametrize(("target", "model", "device"), [
    ("cpu", "inspyrenet-fast", "cpu"), ("gpu", "inspyrenet-base", "cuda"),
])  # fmt: skip
def test_runtime_stage(target: str, model: str, device: str) -> None:
    stage = "\n".join(_stages()[target])
    install = "\n".join(_stages()[f"{target}-install"])
    # the same order as .ci/run: torch pinned first, then the package and its extras
    assert install.index("torch==${TORCH_VERSION}") < install.index("pip install '/src[torch]'")
    assert "COPY --from=weights /opt/cutout/weights /opt/cutout/weights" in stage
    assert re.search(r"^USER 10001$", stage, re.M), "must not run as root"
    assert f"CUTOUT_MODEL={model}" in stage and f"CUTOUT_DEVICE={device}" in stage
    assert "PORT=8080" in stage
    assert stage.rstrip().endswith('CMD ["cutout", "serve"]')
    assert model in model_names()


def test_weights_are_pulled_by_the_cli() -> None:
    download = "\n".join(_stages()["weights-download"])
    assert 'cutout models pull "${model}"' in download
    models = re.search(r'^ARG MODELS="([^"]+)"$', DOCKERFILE, re.M)
    assert models is not None
    assert set(models.group(1).split()) == {"inspyrenet-base", "inspyrenet-fast"}
    assert set(models.group(1).split()) <= set(model_names())
    assert "FROM weights-${WEIGHTS_SOURCE} AS weights" in DOCKERFILE


def test_dockerignore_keeps_the_build_inputs() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for needed in ("src", "pyproject.toml", "weights"):
        assert needed not in ignored
    for heavy in (".venv", ".git", "tests", "bench"):
        assert heavy in ignored
