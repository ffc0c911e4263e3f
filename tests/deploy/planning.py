"""Helpers for planner tests: a config from a few overrides, limits and usage in one line."""

from __future__ import annotations

from typing import Any

from cutout.deploy.config import DeployConfig, parse_config
from cutout.deploy.types import QuotaLimits, RegionUsage

__all__ = ["GIB", "config", "limits", "usage"]

GIB = 2**30


def config(
    *, gpu: dict[str, Any] | None = None, cpu: dict[str, Any] | None = None, **top: Any
) -> DeployConfig:
    data: dict[str, Any] = {
        "project": "petshop-prod",
        "service": "cutout",
        "regions": ["us-central1", "europe-west4"],
        "image": "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout-gpu:0.1.0",
        "gpu": {"max_instances": 3, "cpu": "4", "memory": "16Gi", "model": "inspyrenet-base"},
        "cpu": {"max_instances": 4, "cpu": "8", "memory": "16Gi", "model": "inspyrenet-fast"},
    }
    data["gpu"].update(gpu or {})
    data["cpu"].update(cpu or {})
    data.update(top)
    return parse_config(data, "test.toml")


def limits(
    region: str,
    zonal: int | None = 0,
    no_zonal: int | None = 0,
    vcpu: float | None = 200,
    gib: float | None = 400,
) -> QuotaLimits:
    return QuotaLimits(
        region=region,
        l4_gpus_zonal=zonal,
        l4_gpus_no_zonal=no_zonal,
        cpu_milli=None if vcpu is None else int(vcpu * 1000),
        memory_bytes=None if gib is None else int(gib * GIB),
    )


def usage(
    region: str, zonal: int = 0, no_zonal: int = 0, vcpu: float = 0, gib: float = 0
) -> RegionUsage:
    return RegionUsage(
        region=region,
        l4_gpus_zonal=zonal,
        l4_gpus_no_zonal=no_zonal,
        cpu_milli=int(vcpu * 1000),
        memory_bytes=int(gib * GIB),
    )
