"""Admission rules of the fake Cloud Run Admin API v2: template shape and quota.

What the server checks before it creates a revision (../shared/facts/cloud-run-gpu.md):
v2 refuses ``run.googleapis.com/*`` and ``autoscaling.knative.dev/*`` annotations; an L4
revision needs exactly one GPU, the accelerator node selector, >= 4 vCPU / 16 GiB, CPU
always allocated and an L4 region; admission counts max instances x per-instance GPU,
CPU and memory of every service in the region against the ``run.googleapis.com``
quotas and refuses with the server's texts, as field violations on the maxScale
annotation ("You do not have quota for using GPUs with zonal redundancy ... You could
deploy using GPUs without zonal redundancy instead.", "Max instances must be set to N
or fewer to set the requested total CPU ... Quota violated: CpuAllocPerProjectRegion
requested: 60000 allowed: 20000").

Documented guesses: the HTTP status (400 INVALID_ARGUMENT), the wording for GPU limits
above zero (patterned on the CPU and memory texts) and for GPU shape errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cutout.deploy.units import parse_cpu, parse_memory

__all__ = [
    "CPU_QUOTA",
    "DEFAULT_MAX_INSTANCES",
    "GPU_NO_ZR_QUOTA",
    "GPU_ZR_QUOTA",
    "L4_REGIONS",
    "MAX_SCALE_FIELD",
    "MEM_QUOTA",
    "ApiError",
    "Usage",
    "add_usage",
    "admit",
    "max_instances_error",
    "per_instance",
    "validate_template",
]

GPU_ZR_QUOTA = "NvidiaL4GpuAllocPerProjectRegion"
GPU_NO_ZR_QUOTA = "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion"
CPU_QUOTA = "CpuAllocPerProjectRegion"
MEM_QUOTA = "MemAllocPerProjectRegion"
L4_REGIONS = frozenset(
    {"asia-southeast1", "europe-west1", "europe-west4", "us-east4", "us-central1", "asia-south1"}
)
MAX_SCALE_FIELD = "spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]"
DEFAULT_MAX_INSTANCES = 100  # v2 default when unset


class ApiError(Exception):
    """An error the fake answers with: HTTP status, gRPC status name, message, details."""

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        *,
        field_violation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message
        self.field_violation = field_violation

    def to_json(self) -> dict[str, object]:
        details: list[dict[str, object]] = []
        if self.field_violation is not None:
            description = self.message.split(": ", 1)[-1]
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {"field": self.field_violation, "description": description}
                    ],
                }
            )
        error: dict[str, object] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if details:
            error["details"] = details
        return {"error": error}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class Usage:
    """Allocation at max instances: what admission counts."""

    cpu_milli: int = 0
    memory_bytes: int = 0
    gpus_zr: int = 0
    gpus_no_zr: int = 0


def per_instance(template: object) -> tuple[int, int, int]:
    cpu = memory = gpus = 0
    for container in template.containers:
        limits = container.resources.limits
        cpu += parse_cpu(limits.get("cpu", "1"))
        memory += parse_memory(limits.get("memory", "512Mi"))
        gpus += int(limits.get("nvidia.com/gpu", "0"))
    return cpu, memory, gpus


def add_usage(usage: Usage, template: object) -> None:
    cpu, memory, gpus = per_instance(template)
    count = template.scaling.max_instance_count or DEFAULT_MAX_INSTANCES
    usage.cpu_milli += cpu * count
    usage.memory_bytes += memory * count
    if template.gpu_zonal_redundancy_disabled:
        usage.gpus_no_zr += gpus * count
    else:
        usage.gpus_zr += gpus * count


def validate_template(service: object, region: str) -> None:
    """Shape rules of a v2 revision template (GPU needs, forbidden annotations)."""
    template = service.template
    for key in list(template.annotations) + list(service.annotations):
        if key.startswith(("run.googleapis.com/", "autoscaling.knative.dev/")):
            raise _invalid(
                f"Annotation '{key}' is not supported in the v2 API; "
                "use the corresponding field instead."
            )
    if not template.containers or not template.containers[0].image:
        raise _invalid("template.containers[0].image must be set.")
    cpu, memory, gpus = per_instance(template)
    accelerator = template.node_selector.accelerator
    if gpus and not accelerator:
        raise _invalid("A GPU limit requires template.node_selector.accelerator.")
    if accelerator and not gpus:
        raise _invalid("node_selector.accelerator requires an nvidia.com/gpu limit.")
    if gpus:
        if accelerator != "nvidia-l4":
            raise _invalid(f"Unsupported accelerator '{accelerator}'.")
        if region not in L4_REGIONS:
            raise _invalid(f"GPU type nvidia-l4 is not supported in region {region}.")
        if gpus != 1:
            raise _invalid("Exactly 1 GPU per instance is supported for nvidia-l4.")
        if cpu < 4000 or memory < 16 * 2**30:
            raise _invalid("GPU instances need at least 4 CPU and 16Gi memory.")
        if template.containers[0].resources.cpu_idle:
            raise _invalid("GPU revisions need CPU always allocated (cpu_idle=false).")
    elif template.gpu_zonal_redundancy_disabled:
        raise _invalid("gpu_zonal_redundancy_disabled requires a GPU.")


def admit(
    template: object, region: str, other: Usage, quota_limit: Callable[[str, str], int | None]
) -> None:
    """Refuse ``template`` with the server's texts if max instances x its resources,
    plus what ``other`` services take, exceed a run.googleapis.com quota."""
    cpu, memory, gpus = per_instance(template)
    count = template.scaling.max_instance_count or DEFAULT_MAX_INSTANCES
    if gpus:
        no_zr = template.gpu_zonal_redundancy_disabled
        quota = GPU_NO_ZR_QUOTA if no_zr else GPU_ZR_QUOTA
        used = other.gpus_no_zr if no_zr else other.gpus_zr
        allowed = max((quota_limit(quota, region) or 0) - used, 0)
        if gpus * count > allowed:
            if not no_zr and allowed == 0:
                raise ApiError(
                    400,
                    "INVALID_ARGUMENT",
                    # the facts file's two sentences; whatever Google puts between them
                    # is not known here and not invented
                    f"{MAX_SCALE_FIELD}: You do not have quota for using GPUs with zonal "
                    "redundancy. You could deploy using GPUs without zonal redundancy "
                    "instead.",
                    field_violation=MAX_SCALE_FIELD,
                )
            raise max_instances_error("GPU", quota, gpus, gpus * count, allowed)
    for quota, per, used, what in (
        (CPU_QUOTA, cpu, other.cpu_milli, "CPU"),
        (MEM_QUOTA, memory, other.memory_bytes, "memory"),
    ):
        limit = quota_limit(quota, region)
        if limit is None:
            continue
        allowed = max(limit - used, 0)
        if per * count > allowed:
            raise max_instances_error(what, quota, per, per * count, allowed)


def max_instances_error(what: str, quota: str, each: int, requested: int, allowed: int) -> ApiError:
    fewer = allowed // each if each else 0
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        f"{MAX_SCALE_FIELD}: Max instances must be set to {fewer} or fewer to set the "
        f"requested total {what}. Consider running your workload in a region with greater "
        "capacity, or requesting an increase in quota for this region. Quota violated: "
        f"{quota} requested: {requested} allowed: {allowed}",
        field_violation=MAX_SCALE_FIELD,
    )
