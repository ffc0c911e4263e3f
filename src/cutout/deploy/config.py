"""``cutout-deploy.toml``: what to deploy where, read and validated once.

::

    project = "my-shop"
    service = "cutout"
    regions = ["us-central1", "europe-west4"]   # preference order
    image = "us-central1-docker.pkg.dev/my-shop/cutout/cutout:1.4.0"
    latency_target_ms = 3000
    daily_budget_usd = 120.0                     # optional
    price_tier = 1                               # 1 or 2

    [gpu]
    type = "nvidia-l4"
    max_instances = 3
    min_instances = 0
    image = "..."                                # optional: the GPU image target
    cpu = "4"
    memory = "16Gi"
    concurrency = 4
    model = "inspyrenet-base"
    zonal_redundancy = true                      # try zonal-redundant GPUs first
    fewest_max_instances = 1                     # below this, fewer GPUs is not worth it

    [cpu]
    max_instances = 4
    min_instances = 0
    image = "..."                                # optional: the smaller CPU image target
    cpu = "8"
    memory = "16Gi"
    concurrency = 1
    model = "inspyrenet-fast"
    enabled = true                               # allow the CPU-only fallback

Every error is a :class:`~cutout.errors.ConfigError` whose message starts with the file
and names the key, e.g. ``cutout-deploy.toml: gpu.cpu: nvidia-l4 needs at least 4 vCPU``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutout.deploy.units import parse_cpu, parse_memory
from cutout.errors import ConfigError, UnknownModelError

__all__ = [
    "GPU_MINIMUMS",
    "REGION_NAME",
    "SERVICE_NAME",
    "DeployConfig",
    "KindConfig",
    "TableReader",
    "load_config",
    "parse_config",
    "read_model",
    "read_toml",
]

# Per-instance minimums Cloud Run enforces for each accelerator: (milli-vCPU, bytes).
GPU_MINIMUMS: dict[str, tuple[int, int]] = {"nvidia-l4": (4000, 16 * 2**30)}
MAX_CONCURRENCY = 1000

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
SERVICE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$")
REGION_NAME = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")  # us-central1, europe-west4

_TOP_KEYS = {
    "project",
    "service",
    "regions",
    "image",
    "latency_target_ms",
    "daily_budget_usd",
    "price_tier",
    "gpu",
    "cpu",
    "job",  # Cloud Run Jobs: read by cutout.deploy.job_config
}
_KIND_KEYS = {"max_instances", "min_instances", "cpu", "memory", "concurrency", "model", "image"}
_GPU_KEYS = _KIND_KEYS | {"type", "zonal_redundancy", "fewest_max_instances"}
_CPU_KEYS = _KIND_KEYS | {"enabled"}


@dataclass(frozen=True)
class KindConfig:
    """Per-instance resources and scaling for one kind of revision (GPU or CPU-only)."""

    max_instances: int
    min_instances: int
    cpu_milli: int
    memory_bytes: int
    concurrency: int
    model: str
    image: str  # the GPU or CPU image target; the top-level `image` unless overridden


@dataclass(frozen=True)
class DeployConfig:
    project: str
    service: str
    regions: tuple[str, ...]
    image: str
    gpu_type: str
    gpu: KindConfig
    cpu: KindConfig
    latency_target_ms: int
    daily_budget_usd: float | None = None
    price_tier: int = 1
    prefer_zonal_redundancy: bool = True
    fewest_max_instances: int = 1
    cpu_fallback: bool = True


class TableReader:
    """Typed access to one TOML table; every error names the file and the dotted key."""

    def __init__(self, source: str, table: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.table = table
        self.prefix = prefix

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key}: {reason}")

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(key, f"unknown key (known: {known})")

    def raw(self, key: str, default: Any = ...) -> Any:
        if key in self.table:
            return self.table[key]
        if default is ...:
            raise self.fail(key, "is required")
        return default

    def string(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, key: str, default: Any = ..., *, low: int, high: int | None = None) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"between {low} and {high}"
            raise self.fail(key, f"must be {bound}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def quantity(self, key: str, default: Any, *, cpu: bool) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"must be a quantity such as '4' or '16Gi', got {value!r}")
        try:
            amount = parse_cpu(value) if cpu else parse_memory(str(value))
        except ConfigError as exc:
            raise self.fail(key, exc.message) from exc
        if amount <= 0:
            raise self.fail(key, f"must be more than zero, got {value!r}")
        return amount

    def table_at(self, key: str) -> TableReader:
        value = self.raw(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return TableReader(self.source, value, f"{self.prefix}{key}.")


def read_model(reader: TableReader, default: str) -> str:
    name = reader.string("model", default)
    from cutout.models.registry import get_spec

    try:
        get_spec(name)
    except UnknownModelError as exc:
        raise reader.fail("model", exc.message) from exc
    return name


def _kind(reader: TableReader, defaults: Mapping[str, Any], image: str) -> KindConfig:
    max_instances = reader.integer("max_instances", defaults["max_instances"], low=1)
    min_instances = reader.integer("min_instances", 0, low=0)
    if min_instances > max_instances:
        raise reader.fail(
            "min_instances", f"{min_instances} is more than max_instances ({max_instances})"
        )
    return KindConfig(
        max_instances=max_instances,
        min_instances=min_instances,
        cpu_milli=reader.quantity("cpu", defaults["cpu"], cpu=True),
        memory_bytes=reader.quantity("memory", defaults["memory"], cpu=False),
        concurrency=reader.integer(
            "concurrency", defaults["concurrency"], low=1, high=MAX_CONCURRENCY
        ),
        model=read_model(reader, defaults["model"]),
        image=reader.string("image", image),
    )


def parse_config(data: Mapping[str, Any], source: str = "cutout-deploy.toml") -> DeployConfig:
    """Validate an already-parsed TOML document."""
    top = TableReader(source, data)
    top.check_keys(_TOP_KEYS)

    project = top.string("project")
    if not _PROJECT.match(project):
        raise top.fail("project", f"{project!r} is not a Google Cloud project id")
    service = top.string("service")
    if not SERVICE_NAME.match(service):
        raise top.fail(
            "service",
            f"{service!r} is not a Cloud Run service name (lowercase letters, digits and "
            "hyphens, starting with a letter, at most 49 characters)",
        )
    regions_raw = top.raw("regions")
    if not isinstance(regions_raw, list) or not regions_raw:
        raise top.fail("regions", "must be a non-empty list of regions in preference order")
    for region in regions_raw:
        if not isinstance(region, str) or not REGION_NAME.match(region):
            raise top.fail("regions", f"{region!r} is not a region name like 'us-central1'")
    if len(set(regions_raw)) != len(regions_raw):
        raise top.fail("regions", "lists a region twice")

    budget_raw = top.raw("daily_budget_usd", None)
    if budget_raw is not None and (
        isinstance(budget_raw, bool) or not isinstance(budget_raw, int | float) or budget_raw <= 0
    ):
        raise top.fail("daily_budget_usd", f"must be a positive number, got {budget_raw!r}")

    image = top.string("image")
    gpu_reader = top.table_at("gpu")
    gpu_reader.check_keys(_GPU_KEYS)
    gpu_type = gpu_reader.string("type", "nvidia-l4")
    if gpu_type not in GPU_MINIMUMS:
        raise gpu_reader.fail(
            "type", f"{gpu_type!r} is not supported (supported: {', '.join(GPU_MINIMUMS)})"
        )
    gpu = _kind(
        gpu_reader,
        {
            "max_instances": 3,
            "cpu": "4",
            "memory": "16Gi",
            "concurrency": 4,
            "model": "inspyrenet-base",
        },
        image,
    )
    min_cpu, min_memory = GPU_MINIMUMS[gpu_type]
    if gpu.cpu_milli < min_cpu:
        raise gpu_reader.fail("cpu", f"{gpu_type} needs at least {min_cpu // 1000} vCPU")
    if gpu.memory_bytes < min_memory:
        raise gpu_reader.fail("memory", f"{gpu_type} needs at least {min_memory // 2**30}Gi")
    fewest = gpu_reader.integer("fewest_max_instances", 1, low=1)
    if fewest > gpu.max_instances:
        raise gpu_reader.fail(
            "fewest_max_instances", f"{fewest} is more than max_instances ({gpu.max_instances})"
        )

    cpu_reader = top.table_at("cpu")
    cpu_reader.check_keys(_CPU_KEYS)
    cpu = _kind(
        cpu_reader,
        {
            "max_instances": 4,
            "cpu": "8",
            "memory": "16Gi",
            "concurrency": 1,
            "model": "inspyrenet-fast",
        },
        image,
    )

    return DeployConfig(
        project=project,
        service=service,
        regions=tuple(regions_raw),
        image=image,
        gpu_type=gpu_type,
        gpu=gpu,
        cpu=cpu,
        latency_target_ms=top.integer("latency_target_ms", 3000, low=1),
        daily_budget_usd=None if budget_raw is None else float(budget_raw),
        price_tier=top.integer("price_tier", 1, low=1, high=2),
        prefer_zonal_redundancy=gpu_reader.boolean("zonal_redundancy", True),
        fewest_max_instances=fewest,
        cpu_fallback=cpu_reader.boolean("enabled", True),
    )


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``; errors name the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc


def load_config(path: str | Path) -> DeployConfig:
    """Read and validate a ``cutout-deploy.toml``."""
    return parse_config(read_toml(path), str(Path(path)))
