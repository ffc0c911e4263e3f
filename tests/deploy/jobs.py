"""Helpers for the job tests: a service config with a ``[job]`` table, from overrides."""

from __future__ import annotations

from typing import Any

from cutout.deploy.config import DeployConfig, parse_config
from cutout.deploy.job_config import JobConfig, parse_job_config

__all__ = ["BASE", "JOB", "job_configs", "job_toml"]

BASE: dict[str, Any] = {
    "project": "petshop-prod",
    "service": "cutout",
    "regions": ["us-central1", "europe-west4"],
    "image": "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout-gpu:0.1.0",
    "gpu": {"max_instances": 3, "model": "inspyrenet-base"},
    "cpu": {
        "max_instances": 4,
        "cpu": "8",
        "memory": "16Gi",
        "model": "inspyrenet-fast",
        "image": "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout-cpu:0.1.0",
    },
}
JOB: dict[str, Any] = {
    "name": "catalogue",
    "source": "gs://shop-catalogue/originals/",
    "destination": "gs://shop-catalogue/cutouts/",
}


def _document(
    job: dict[str, Any] | None, gpu: dict[str, Any] | None, cpu: dict[str, Any] | None, **top: Any
) -> dict[str, Any]:
    table: dict[str, Any] = {**JOB, **(job or {})}
    if gpu is not None:
        table["gpu"] = gpu
    if cpu is not None:
        table["cpu"] = cpu
    return {**BASE, **top, "job": table}


def job_configs(
    job: dict[str, Any] | None = None,
    *,
    gpu: dict[str, Any] | None = None,
    cpu: dict[str, Any] | None = None,
    **top: Any,
) -> tuple[DeployConfig, JobConfig]:
    """The service config and its job, from a few overrides of :data:`BASE` / :data:`JOB`."""
    data = _document(job, gpu, cpu, **top)
    base = parse_config(data, "test.toml")
    return base, parse_job_config(data, base, "test.toml")


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def job_toml(
    job: dict[str, Any] | None = None,
    *,
    gpu: dict[str, Any] | None = None,
    cpu: dict[str, Any] | None = None,
    **top: Any,
) -> str:
    """The same document as cutout-deploy.toml text."""
    data = _document(job, gpu, cpu, **top)
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []

    def write(prefix: str, table: dict[str, Any]) -> None:
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in table.items():
            if isinstance(value, dict):
                tables.append((f"{prefix}.{key}" if prefix else key, value))
            else:
                lines.append(f"{key} = {_toml_value(value)}")

    write("", data)
    while tables:
        write(*tables.pop(0))
    return "\n".join(lines) + "\n"
