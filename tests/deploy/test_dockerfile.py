"""The Dockerfile (Docker cannot run here): targets, bases, user, weights layer, and the
same install steps and torch pin as .ci/run, so CI exercises what the image runs."""

from __future__ import annotations

import re
import shlex
import tomllib

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


@pytest.mark.parametrize(("target", "model", "device", "extras"), [
    ("cpu", "inspyrenet-fast", "cpu", "torch"), ("gpu", "inspyrenet-base", "cuda", "torch,gpu"),
])  # fmt: skip
def test_runtime_stage(target: str, model: str, device: str, extras: str) -> None:
    stage = "\n".join(_stages()[target])
    install = "\n".join(_stages()[f"{target}-install"])
    # the same order as .ci/run: torch pinned first, then the package and its extras
    assert install.index("torch==${TORCH_VERSION}") < install.index(f"pip install '/src[{extras}]'")
    assert "COPY --from=weights /opt/cutout/weights /opt/cutout/weights" in stage
    assert re.search(r"^USER 10001$", stage, re.M), "must not run as root"
    assert f"CUTOUT_MODEL={model}" in stage and f"CUTOUT_DEVICE={device}" in stage
    assert "PORT=8080" in stage
    assert stage.rstrip().endswith('CMD ["cutout", "serve"]')
    assert model in model_names()


@pytest.mark.parametrize(("target", "step"), [
    ("cpu", 'cutout models export-onnx "${model}"'), ("gpu", 'cutout models verify "${model}"'),
])  # fmt: skip
def test_each_image_checks_its_weights_once_at_build_time(target: str, step: str) -> None:
    """As root, after the weights are in place, for every model the image ships: the
    digests are remembered (no hashing at start) and, on the CPU, the graph is baked."""
    stage = _stage_text(target)
    assert "ARG MODELS\n" in stage + "\n"  # the global list of models, in this stage
    run = stage.index(f"RUN for model in ${{MODELS}}; do {step}; done")
    assert stage.index("COPY --from=weights /opt/cutout/weights") < run
    assert stage.index("ENV CUTOUT_HOME=/opt/cutout") < run  # into the cache the server reads
    assert run < stage.index("USER 10001")


def test_the_cpu_image_serves_the_graph_it_bakes() -> None:
    """The export writes where the torch backend looks (CUTOUT_HOME), for the model the
    image serves, on the CPU the image names."""
    stage = _stage_text("cpu")
    models = re.search(r'^ARG MODELS="([^"]+)"$', DOCKERFILE, re.M)
    assert models is not None
    served = re.search(r"CUTOUT_MODEL=(\S+)", stage)
    assert served is not None and served.group(1) in models.group(1).split()
    assert "CUTOUT_DEVICE=cpu" in stage
    assert "CUTOUT_CPU_RUNTIME" not in stage  # the default: the baked graph


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


# -- ONNX Runtime: exactly one distribution in each image ---------------------------------
_ORT = ("onnxruntime", "onnxruntime-gpu")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _ort_requirements(requirements: list[str]) -> set[str]:
    names = {re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0] for requirement in requirements}
    return names & set(_ORT)


def _stage_text(stage: str) -> str:
    return "\n".join(_stages()[stage])


def _pip_steps(text: str) -> list[list[str]]:
    """The pip commands of a stage's text in order, as argument lists after ``pip``."""
    steps = []
    for command in re.split(r"&&|\n", text.replace("\\\n", " ")):
        words = shlex.split(command.replace("RUN ", "", 1))
        if "pip" in words and words[words.index("pip") + 1 :][:1] in (["install"], ["uninstall"]):
            steps.append(words[words.index("pip") + 1 :])
    return steps


def _installed_ort(*texts: str) -> dict[str, str]:
    """Play the stages' pip commands on ONNX Runtime's distributions: name -> "ok", or
    "broken" for one whose shared package folder lost files when the other was removed."""
    state: dict[str, str] = {}
    extras = PYPROJECT["optional-dependencies"]
    for step in (step for text in texts for step in _pip_steps(text)):
        arguments = [word for word in step[1:] if not word.startswith("-")]
        if step[0] == "uninstall":
            for name in set(arguments) & set(state):
                del state[name]
                state.update(dict.fromkeys(state, "broken"))
            continue
        for argument in arguments:
            package = re.match(r"/src(?:\[([^\]]*)\])?$", argument)
            if package:
                wanted = _ort_requirements(PYPROJECT["dependencies"])
                for extra in filter(None, (package.group(1) or "").split(",")):
                    wanted |= _ort_requirements(extras[extra])
            else:
                wanted = _ort_requirements([argument])
            state.update(dict.fromkeys(wanted, "ok"))
    return state


def test_the_gpu_extra_is_onnx_runtime_s_cuda_build() -> None:
    assert _ort_requirements(PYPROJECT["optional-dependencies"]["gpu"]) == {"onnxruntime-gpu"}
    assert _ort_requirements(PYPROJECT["dependencies"]) == {"onnxruntime"}


@pytest.mark.parametrize(("target", "kept"), [("cpu", "onnxruntime"), ("gpu", "onnxruntime-gpu")])
def test_each_image_ends_with_exactly_one_onnx_runtime(target: str, kept: str) -> None:
    assert _installed_ort(_stage_text(f"{target}-install"), _stage_text(target)) == {kept: "ok"}


def test_the_play_sees_a_shared_folder_broken_by_removing_one_build() -> None:
    both = "RUN python -m pip install '/src[torch,gpu]'"
    assert _installed_ort(both) == {"onnxruntime": "ok", "onnxruntime-gpu": "ok"}
    one_removed = both + " && python -m pip uninstall -y onnxruntime"
    assert _installed_ort(one_removed) == {"onnxruntime-gpu": "broken"}


def test_the_gpu_build_checks_what_it_installed() -> None:
    install = _stage_text("gpu-install")
    check = re.search(r'onnxruntime_distributions.*== \("onnxruntime-gpu",\)', install)
    assert check is not None
    assert check.start() > install.index("pip install --no-deps")
