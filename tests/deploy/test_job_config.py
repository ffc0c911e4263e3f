"""The ``[job]`` section: defaults, where each per-image figure comes from, errors by key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from cutout.deploy.config import load_config
from cutout.deploy.job_config import (
    GPU_SECONDS_GUESS,
    MEASURED_CPU_SECONDS,
    load_job_config,
    parse_job_config,
)
from cutout.errors import ConfigError
from tests.conftest import REPO
from tests.deploy.jobs import BASE, job_configs, job_toml

DOCS_CONFIG = REPO / "docs" / "cutout-deploy.toml"


def test_defaults_come_from_the_service_config_and_say_where_figures_come_from() -> None:
    config, job = job_configs()
    assert (job.name, job.device, job.regions) == ("catalogue", "gpu", config.regions)
    assert (job.max_retries, job.target_fraction, job.args) == (3, 0.6, ())
    assert job.gpu.image == config.gpu.image and job.cpu.image == config.cpu.image
    assert (job.gpu.model, job.cpu.model) == ("inspyrenet-base", "inspyrenet-fast")
    assert (job.gpu.cpu_milli, job.gpu.memory_bytes) == (4000, 16 * 2**30)
    assert (job.gpu.parallelism, job.cpu.parallelism) == (3, 4)  # the max instances
    assert job.gpu.task_timeout_s == 3600
    assert (job.gpu.seconds_per_image, job.gpu.seconds_per_image_source) == GPU_SECONDS_GUESS
    assert "not measured" in job.gpu.seconds_per_image_source
    fast = MEASURED_CPU_SECONDS["inspyrenet-fast"]
    assert (job.cpu.seconds_per_image, job.cpu.seconds_per_image_source) == fast
    assert "docs/benchmarks.md" in job.cpu.seconds_per_image_source


def test_configured_figures_win_and_say_so() -> None:
    _, job = job_configs(
        {"device": "cpu", "args": ["--format", "webp"], "max_retries": 0},
        cpu={"model": "u2netp", "seconds_per_image": 0.8, "parallelism": 10},
    )
    assert job.device == "cpu" and job.args == ("--format", "webp") and job.max_retries == 0
    assert (job.cpu.model, job.cpu.seconds_per_image) == ("u2netp", 0.8)
    assert job.cpu.seconds_per_image_source == "set in the config"
    _, measured = job_configs(cpu={"model": "u2netp"})
    assert measured.cpu.seconds_per_image == MEASURED_CPU_SECONDS["u2netp"][0]


def test_the_documented_example_is_valid() -> None:
    config, job = load_job_config(DOCS_CONFIG)
    assert load_config(DOCS_CONFIG) == config  # the service reads the same file
    assert job.name == "cutout-catalogue" and job.source.startswith("gs://")
    assert job.gpu.seconds_per_image_source == GPU_SECONDS_GUESS[1]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"job": {"colour": "red"}}, "job.colour: unknown key"),
        ({"job": {"source": "photos/"}}, "job.source: 'photos/': a Cloud Run job reads"),
        ({"job": {"device": "tpu"}}, "job.device: must be 'gpu' or 'cpu'"),
        ({"job": {"name": "Catalogue"}}, "job.name: 'Catalogue' is not a Cloud Run job name"),
        ({"job": {"max_retries": 11}}, "job.max_retries: must be between 0 and 10"),
        ({"job": {"target_fraction": 1.0}}, "job.target_fraction: must be between 0.1 and 0.9"),
        ({"job": {"args": "--format webp"}}, "job.args: must be a list of strings"),
        ({"job": {"regions": ["us-central1", "us-central1"]}}, "job.regions: must be a list"),
        ({"gpu": {"cpu": "2"}}, "job.gpu.cpu: nvidia-l4 needs at least 4 vCPU"),
        ({"gpu": {"memory": "8Gi"}}, "job.gpu.memory: nvidia-l4 needs at least 16Gi"),
        ({"gpu": {"task_timeout_s": 3601}}, "job.gpu.task_timeout_s: must be between 60 and 3600"),
        ({"cpu": {"task_timeout_s": 169 * 3600}}, "job.cpu.task_timeout_s: must be between 60"),
        ({"gpu": {"parallelism": 2, "fewest_parallelism": 3}}, "job.gpu.fewest_parallelism"),
        ({"gpu": {"model": "rembg"}}, "job.gpu.model: unknown model 'rembg'"),
        ({"cpu": {"seconds_per_image": 0}}, "job.cpu.seconds_per_image: must be between"),
        ({"job": {"device": "cpu"}, "cpu": {"enabled": False}}, "job.cpu.enabled: is false"),
    ],
)
def test_errors_name_the_file_and_the_key(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        job_configs(overrides.get("job"), gpu=overrides.get("gpu"), cpu=overrides.get("cpu"))
    assert caught.value.message.startswith(f"test.toml: {says}"), caught.value.message


def test_a_config_without_a_job_table_says_so() -> None:
    config = load_config(DOCS_CONFIG)
    with pytest.raises(ConfigError, match=r"x.toml: job: is required"):
        parse_job_config(BASE, config, "x.toml")


def test_the_toml_helper_writes_what_the_parser_reads(tmp_path: Any) -> None:
    text = job_toml({"args": ["--format", "png"]}, cpu={"enabled": False})
    assert tomllib.loads(text)["job"]["cpu"] == {"enabled": False}
    path = tmp_path / "cutout-deploy.toml"
    path.write_text(text, encoding="utf-8")
    _, job = load_job_config(path)
    assert job.args == ("--format", "png") and not job.cpu_fallback
