"""The ``[job]`` section of ``cutout-deploy.toml``: a bulk catalogue run on Cloud Run Jobs.

::

    [job]
    name = "cutout-catalogue"                    # the Cloud Run job (default SERVICE-job)
    source = "gs://petshop-catalogue/originals/" # what `cutout batch SRC DST` reads
    destination = "gs://petshop-catalogue/cutouts/"
    device = "gpu"           # gpu: an L4 job first, a CPU job when no L4 fits; cpu: CPU only
    max_retries = 3          # per task, 0-10
    target_fraction = 0.6    # a task's expected time / its timeout
    args = ["--format", "webp"]                  # more `cutout batch` options
    # regions = [...]                            # default: the top-level regions
    # service_account = "batch@petshop-prod.iam.gserviceaccount.com"

    [job.gpu]                # one L4 per task, no zonal redundancy (jobs have no other)
    parallelism = 3          # tasks at once: x per-task GPU/CPU/memory must fit the quota
    fewest_parallelism = 1
    cpu = "4"                # nvidia-l4 needs at least 4 vCPU and 16 GiB
    memory = "16Gi"
    model = "inspyrenet-base"                    # default: gpu.model; image: gpu.image
    task_timeout_s = 3600    # a GPU task runs at most 1 hour
    seconds_per_image = 2.0  # NOT measured on an L4: a conservative guess
    startup_s = 60           # container start and model load, per task

    [job.cpu]                # the CPU job of the ladder's last step
    enabled = true
    parallelism = 4
    cpu = "8"
    memory = "16Gi"
    model = "inspyrenet-fast"                    # default: cpu.model; image: cpu.image
    task_timeout_s = 3600    # up to 168 h (over 24 h is Preview)
    seconds_per_image = 15.0 # default: measured on the CPU (docs/benchmarks.md)
    startup_s = 30

The per-image seconds decide how many items one task gets, so each default says where it
comes from (:data:`MEASURED_CPU_SECONDS`, :data:`GPU_SECONDS_GUESS`). Errors name the
file and the key, as :mod:`cutout.deploy.config`'s do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cutout.deploy.config import (
    GPU_MINIMUMS,
    REGION_NAME,
    SERVICE_NAME,
    DeployConfig,
    TableReader,
    parse_config,
    read_model,
    read_toml,
)
from cutout.errors import ConfigError

__all__ = [
    "CPU_TASK_TIMEOUT_MAX_S",
    "GPU_SECONDS_GUESS",
    "GPU_TASK_TIMEOUT_MAX_S",
    "MAX_RETRIES",
    "MEASURED_CPU_SECONDS",
    "JobConfig",
    "JobKindConfig",
    "load_job_config",
    "parse_job_config",
]

# https://cloud.google.com/run/docs/configuring/task-timeout (read 2026-12): a task that
# uses a GPU runs at most 1 hour; a CPU task up to 168 hours (over 24 h is Preview).
GPU_TASK_TIMEOUT_MAX_S = 3600
CPU_TASK_TIMEOUT_MAX_S = 168 * 3600
MAX_RETRIES = 10  # per task, configuring/max-retries

# Seconds per image on a CPU task, measured with the container's model path. The CPU
# image has no exported ONNX graph, so InSPyReNet runs on torch there. All figures are
# from a 2-core AMD EPYC (docs/benchmarks.md); a Cloud Run task with 8 vCPU is likely
# faster, but that is not measured, so these err on the slow side (more, shorter tasks).
MEASURED_CPU_SECONDS: dict[str, tuple[float, str]] = {
    "u2netp": (
        0.5,
        "docs/benchmarks.md, Pipeline (u2netp), quiet machine: 0.29-0.48 s wall per image "
        "(0.2-8 MP) on 2 cores",
    ),
    "inspyrenet-fast": (
        15.0,
        "docs/benchmarks.md, InSPyReNet run 1: 14.9 s per mask on the torch path (what the "
        "CPU image runs) on 2 loaded cores",
    ),
    "inspyrenet-base": (
        25.0,
        "derived, not measured on the torch path: 10.9 s per image through ONNX Runtime "
        "(docs/benchmarks.md, InSPyReNet base run 3, idle 2 cores) x 2.2, the torch/ONNX "
        "forward ratio measured for fast",
    ),
}
_UNMEASURED_CPU = (
    30.0,
    "no CPU figure for this model: a conservative guess; measure one shard and set it",
)
# No GPU was available for this work (docs/benchmarks.md, end of the InSPyReNet section).
GPU_SECONDS_GUESS = (
    2.0,
    "not measured: no L4 was available; a conservative guess for a 1024 px forward plus "
    "decode and encode on 4 vCPU; measure one shard and set job.gpu.seconds_per_image",
)
_CONFIGURED = "set in the config"

_JOB_KEYS = {
    "name",
    "source",
    "destination",
    "device",
    "regions",
    "max_retries",
    "target_fraction",
    "args",
    "service_account",
    "gpu",
    "cpu",
}
_KIND_KEYS = {
    "image",
    "model",
    "cpu",
    "memory",
    "parallelism",
    "fewest_parallelism",
    "task_timeout_s",
    "seconds_per_image",
    "startup_s",
}
Device = Literal["gpu", "cpu"]


@dataclass(frozen=True)
class JobKindConfig:
    """Per-task resources and sizing of one kind of job (GPU or CPU)."""

    image: str
    model: str
    cpu_milli: int
    memory_bytes: int
    parallelism: int  # tasks running at once, wanted
    fewest_parallelism: int  # fewer is not worth running this kind
    task_timeout_s: int
    seconds_per_image: float
    seconds_per_image_source: str  # where the figure comes from
    startup_s: float  # container start and model load, once per task


@dataclass(frozen=True)
class JobConfig:
    name: str
    source: str  # gs://BUCKET/PREFIX
    destination: str
    device: Device  # the first kind the ladder tries
    regions: tuple[str, ...]
    gpu: JobKindConfig
    cpu: JobKindConfig
    cpu_fallback: bool
    max_retries: int
    target_fraction: float
    args: tuple[str, ...]  # more `cutout batch` options
    service_account: str | None = None


def _number(reader: TableReader, key: str, default: float, *, low: float, high: float) -> float:
    value = reader.raw(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reader.fail(key, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise reader.fail(key, f"must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _gcs(reader: TableReader, key: str) -> str:
    """A Cloud Storage location; `cutout batch` checks the bucket name rules itself."""
    value = reader.string(key)
    if not value.startswith("gs://") or len(value) <= len("gs://"):
        raise reader.fail(
            key,
            f"{value!r}: a Cloud Run job reads and writes Cloud Storage: gs://BUCKET/PREFIX",
        )
    return value


def _seconds_per_image(reader: TableReader, device: Device, model: str) -> tuple[float, str]:
    if "seconds_per_image" in reader.table:
        return _number(reader, "seconds_per_image", 1.0, low=0.001, high=3600), _CONFIGURED
    if device == "gpu":
        return GPU_SECONDS_GUESS
    return MEASURED_CPU_SECONDS.get(model, _UNMEASURED_CPU)


def _kind(
    reader: TableReader, device: Device, base: DeployConfig, defaults: Mapping[str, Any]
) -> JobKindConfig:
    reader.check_keys(_KIND_KEYS)
    service = base.gpu if device == "gpu" else base.cpu
    model = read_model(reader, service.model)
    limit = GPU_TASK_TIMEOUT_MAX_S if device == "gpu" else CPU_TASK_TIMEOUT_MAX_S
    parallelism = reader.integer("parallelism", defaults["parallelism"], low=1)
    fewest = reader.integer("fewest_parallelism", 1, low=1)
    if fewest > parallelism:
        raise reader.fail(
            "fewest_parallelism", f"{fewest} is more than parallelism ({parallelism})"
        )
    seconds, source = _seconds_per_image(reader, device, model)
    return JobKindConfig(
        image=reader.string("image", service.image),
        model=model,
        cpu_milli=reader.quantity("cpu", defaults["cpu"], cpu=True),
        memory_bytes=reader.quantity("memory", defaults["memory"], cpu=False),
        parallelism=parallelism,
        fewest_parallelism=fewest,
        task_timeout_s=reader.integer("task_timeout_s", 3600, low=60, high=limit),
        seconds_per_image=seconds,
        seconds_per_image_source=source,
        startup_s=_number(reader, "startup_s", defaults["startup_s"], low=0, high=3600),
    )


def parse_job_config(
    data: Mapping[str, Any], base: DeployConfig, source: str = "cutout-deploy.toml"
) -> JobConfig:
    """The ``[job]`` table of an already-parsed TOML document whose rest is ``base``."""
    if "job" not in data:
        raise ConfigError(f"{source}: job: is required for `cutout deploy job` (a [job] table)")
    reader = TableReader(source, data).table_at("job")
    reader.check_keys(_JOB_KEYS)
    name = reader.string("name", f"{base.service}-job")
    if not SERVICE_NAME.match(name):
        raise reader.fail(
            "name",
            f"{name!r} is not a Cloud Run job name (lowercase letters, digits and hyphens, "
            "starting with a letter, at most 49 characters)",
        )
    device = reader.string("device", "gpu")
    if device not in ("gpu", "cpu"):
        raise reader.fail("device", f"must be 'gpu' or 'cpu', got {device!r}")
    regions = reader.raw("regions", list(base.regions))
    if (
        not isinstance(regions, list)
        or not regions
        or not all(isinstance(r, str) and REGION_NAME.match(r) for r in regions)
        or len(set(regions)) != len(regions)
    ):
        raise reader.fail("regions", "must be a list of distinct regions like 'us-central1'")
    args = reader.raw("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise reader.fail("args", f"must be a list of strings, got {args!r}")
    account = reader.raw("service_account", None)
    if account is not None and (not isinstance(account, str) or "@" not in account):
        raise reader.fail("service_account", f"must be a service account email, got {account!r}")

    gpu_reader = reader.table_at("gpu")
    gpu = _kind(
        gpu_reader,
        "gpu",
        base,
        {"parallelism": base.gpu.max_instances, "cpu": "4", "memory": "16Gi", "startup_s": 60},
    )
    min_cpu, min_memory = GPU_MINIMUMS[base.gpu_type]
    if gpu.cpu_milli < min_cpu:
        raise gpu_reader.fail("cpu", f"{base.gpu_type} needs at least {min_cpu // 1000} vCPU")
    if gpu.memory_bytes < min_memory:
        raise gpu_reader.fail("memory", f"{base.gpu_type} needs at least {min_memory // 2**30}Gi")
    cpu_reader = reader.table_at("cpu")
    enabled = cpu_reader.boolean("enabled", True)
    cpu_table = {k: v for k, v in cpu_reader.table.items() if k != "enabled"}
    cpu = _kind(
        TableReader(source, cpu_table, cpu_reader.prefix),
        "cpu",
        base,
        {"parallelism": base.cpu.max_instances, "cpu": "8", "memory": "16Gi", "startup_s": 30},
    )
    if device == "cpu" and not enabled:
        raise cpu_reader.fail("enabled", "is false, but job.device is 'cpu': nothing to run")
    return JobConfig(
        name=name,
        source=_gcs(reader, "source"),
        destination=_gcs(reader, "destination"),
        device="gpu" if device == "gpu" else "cpu",
        regions=tuple(regions),
        gpu=gpu,
        cpu=cpu,
        cpu_fallback=enabled,
        max_retries=reader.integer("max_retries", 3, low=0, high=MAX_RETRIES),
        target_fraction=_number(reader, "target_fraction", 0.6, low=0.1, high=0.9),
        args=tuple(args),
        service_account=account,
    )


def load_job_config(path: str | Path) -> tuple[DeployConfig, JobConfig]:
    """Read ``cutout-deploy.toml`` once: the service config and its ``[job]`` section."""
    data = read_toml(path)
    source = str(Path(path))
    base = parse_config(data, source)
    return base, parse_job_config(data, base, source)
