"""cutout-deploy.toml: the example loads; every bad value is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutout.deploy.config import load_config, parse_config
from cutout.errors import ConfigError
from tests.conftest import REPO
from tests.deploy.planning import GIB

EXAMPLE = REPO / "docs" / "cutout-deploy.toml"


def _base() -> dict[str, Any]:
    return {
        "project": "petshop-prod",
        "service": "cutout",
        "regions": ["us-central1"],
        "image": "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout-gpu:0.1.0",
    }


def test_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.project == "petshop-prod" and cfg.service == "cutout"
    assert cfg.regions == ("us-central1", "europe-west4")
    assert cfg.gpu_type == "nvidia-l4"
    assert (cfg.gpu.cpu_milli, cfg.gpu.memory_bytes) == (4000, 16 * GIB)
    assert (cfg.gpu.max_instances, cfg.gpu.min_instances) == (3, 0)
    assert cfg.gpu.model == "inspyrenet-base" and cfg.cpu.model == "inspyrenet-fast"
    assert (cfg.cpu.cpu_milli, cfg.cpu.memory_bytes) == (8000, 16 * GIB)
    assert cfg.daily_budget_usd == 150.0 and cfg.latency_target_ms == 3000
    assert cfg.prefer_zonal_redundancy and cfg.cpu_fallback
    assert cfg.gpu.image == cfg.image and cfg.image.endswith("/cutout-gpu:0.1.0")
    assert cfg.cpu.image.endswith("/cutout-cpu:0.1.0")


def test_defaults_for_a_minimal_config() -> None:
    cfg = parse_config(_base())
    assert cfg.gpu.cpu_milli == 4000 and cfg.gpu.memory_bytes == 16 * GIB
    assert cfg.gpu.max_instances == 3 and cfg.cpu.max_instances == 4
    assert cfg.daily_budget_usd is None and cfg.price_tier == 1
    assert cfg.fewest_max_instances == 1


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("missing project", {"project": None}, "x.toml: project: is required"),
    ("project id shape", {"project": "Pet Shop"}, "x.toml: project: 'Pet Shop' is not a"),
    ("service name", {"service": "Cutout_API"}, "x.toml: service: 'Cutout_API' is not a"),
    ("service too long", {"service": "c" * 50}, "x.toml: service:"),
    ("no regions", {"regions": []}, "x.toml: regions: must be a non-empty list"),
    ("bad region", {"regions": ["us central"]}, "x.toml: regions: 'us central' is not a"),
    ("duplicate region", {"regions": ["us-central1"] * 2}, "x.toml: regions: lists a region"),
    ("empty image", {"image": ""}, "x.toml: image: must be a non-empty string"),
    ("unknown key", {"gpu_quota_aware": True}, "x.toml: gpu_quota_aware: unknown key"),
    ("budget zero", {"daily_budget_usd": 0}, "x.toml: daily_budget_usd: must be a positive"),
    ("budget text", {"daily_budget_usd": "100"}, "x.toml: daily_budget_usd: must be a positive"),
    ("tier 3", {"price_tier": 3}, "x.toml: price_tier: must be between 1 and 2, got 3"),
    ("latency", {"latency_target_ms": 0}, "x.toml: latency_target_ms: must be >= 1, got 0"),
    (
        "gpu cpu too small",
        {"gpu": {"cpu": "2"}},
        "x.toml: gpu.cpu: nvidia-l4 needs at least 4 vCPU",
    ),
    ("gpu cpu millis", {"gpu": {"cpu": "3500m"}}, "x.toml: gpu.cpu: nvidia-l4 needs at least 4"),
    (
        "gpu memory too small",
        {"gpu": {"memory": "8Gi"}},
        "x.toml: gpu.memory: nvidia-l4 needs at least 16Gi",
    ),
    ("gpu type", {"gpu": {"type": "nvidia-t4"}}, "x.toml: gpu.type: 'nvidia-t4' is not supported"),
    ("gpu max zero", {"gpu": {"max_instances": 0}}, "x.toml: gpu.max_instances: must be >= 1"),
    (
        "min over max",
        {"gpu": {"max_instances": 2, "min_instances": 3}},
        "x.toml: gpu.min_instances: 3 is more than max_instances (2)",
    ),
    ("gpu max bool", {"gpu": {"max_instances": True}}, "x.toml: gpu.max_instances: must be an"),
    ("memory unit", {"cpu": {"memory": "16GB"}}, "x.toml: cpu.memory: not a memory quantity"),
    ("cpu unit", {"cpu": {"cpu": "two"}}, "x.toml: cpu.cpu: not a CPU quantity"),
    ("cpu zero", {"cpu": {"cpu": "0"}}, "x.toml: cpu.cpu: must be more than zero"),
    (
        "concurrency over 1000",
        {"cpu": {"concurrency": 1001}},
        "x.toml: cpu.concurrency: must be between 1 and 1000",
    ),
    ("unknown model", {"cpu": {"model": "rembg"}}, "x.toml: cpu.model: unknown model 'rembg'"),
    (
        "invented key",
        {"gpu": {"fallback_cpu_mode": True}},
        "x.toml: gpu.fallback_cpu_mode: unknown",
    ),
    (
        "fewest over max",
        {"gpu": {"max_instances": 2, "fewest_max_instances": 3}},
        "x.toml: gpu.fewest_max_instances: 3 is more than max_instances (2)",
    ),
    ("enabled text", {"cpu": {"enabled": "yes"}}, "x.toml: cpu.enabled: must be true or false"),
    ("gpu not a table", {"gpu": "nvidia-l4"}, "x.toml: gpu: must be a table"),
]


@pytest.mark.parametrize(("change", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_values_name_the_key(change: dict[str, Any], message: str) -> None:
    data = _base()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(ConfigError) as info:
        parse_config(data, "x.toml")
    assert info.value.message.startswith(message), info.value.message


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('project = "x\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_config(broken)
