"""Build Cloud Quotas and Run v2 REST responses (camelCase JSON) for planner tests.

The shapes follow what the APIs return: ``ListQuotaInfosResponse.quotaInfos[]`` with
``dimensionsInfos[].details.value`` as an int64 string, ``ListServicesResponse.services[]``
with ``template.scaling.maxInstanceCount``, ``template.containers[].resources.limits``,
``template.nodeSelector.accelerator`` and ``template.gpuZonalRedundancyDisabled``.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = [
    "PROJECT",
    "PROJECT_NUMBER",
    "quota_info",
    "quota_infos_response",
    "service",
    "services_response",
]

PROJECT = "petshop-prod"
PROJECT_NUMBER = "418305719264"

_QUOTA_META: dict[str, tuple[str, str, str]] = {
    "NvidiaL4GpuAllocPerProjectRegion": (
        "run.googleapis.com/nvidia_l4_gpu_allocation",
        "Total Nvidia L4 GPU allocation, per project per region",
        "1",
    ),
    "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion": (
        "run.googleapis.com/nvidia_l4_gpu_allocation_no_zonal_redundancy",
        "Total Nvidia L4 GPU allocation without zonal redundancy, per project per region",
        "1",
    ),
    "CpuAllocPerProjectRegion": (
        "run.googleapis.com/cpu_allocation",
        "Total CPU allocation, per project per region",
        "1",
    ),
    "MemAllocPerProjectRegion": (
        "run.googleapis.com/memory_allocation",
        "Total memory allocation, per project per region",
        "By",
    ),
}


def quota_info(
    quota_id: str,
    per_region: dict[str, int],
    default: int | None = None,
    default_locations: tuple[str, ...] = (),
) -> dict[str, Any]:
    metric, display, unit = _QUOTA_META[quota_id]
    infos: list[dict[str, Any]] = [
        {
            "dimensions": {"region": region},
            "details": {"value": str(value)},
            "applicableLocations": [region],
        }
        for region, value in per_region.items()
    ]
    if default is not None:
        infos.append(
            {
                "dimensions": {},
                "details": {"value": str(default)},
                "applicableLocations": list(default_locations),
            }
        )
    return {
        "name": f"projects/{PROJECT_NUMBER}/locations/global/services/run.googleapis.com/"
        f"quotaInfos/{quota_id}",
        "quotaId": quota_id,
        "metric": metric,
        "service": "run.googleapis.com",
        "isPrecise": True,
        "containerType": "PROJECT",
        "dimensions": ["region"],
        "metricDisplayName": display,
        "quotaDisplayName": display,
        "metricUnit": unit,
        "quotaIncreaseEligibility": {"isEligible": True},
        "dimensionsInfos": infos,
    }


def quota_infos_response(*infos: dict[str, Any]) -> dict[str, Any]:
    return {"quotaInfos": list(infos)}


def service(
    name: str,
    region: str,
    *,
    max_instances: int | None,
    cpu: str | None = "1",
    memory: str | None = "512Mi",
    gpu: bool = False,
    zonal: bool = True,
    image: str = "us-docker.pkg.dev/cloudrun/container/hello",
) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if cpu is not None:
        limits["cpu"] = cpu
    if memory is not None:
        limits["memory"] = memory
    template: dict[str, Any] = {
        "containers": [
            {
                "image": image,
                "resources": {"limits": limits, "cpuIdle": not gpu},
                "ports": [{"name": "http1", "containerPort": 8080}],
            }
        ],
        "maxInstanceRequestConcurrency": 80,
        "timeout": "300s",
        "serviceAccount": f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
    }
    if max_instances is not None:
        template["scaling"] = {"maxInstanceCount": max_instances}
    if gpu:
        limits["nvidia.com/gpu"] = "1"
        template["nodeSelector"] = {"accelerator": "nvidia-l4"}
        if not zonal:
            template["gpuZonalRedundancyDisabled"] = True
    revision = f"projects/{PROJECT}/locations/{region}/services/{name}/revisions/{name}-00003-kzq"
    return {
        "name": f"projects/{PROJECT}/locations/{region}/services/{name}",
        "uid": f"00000000-0000-4000-8000-{zlib.crc32((region + '/' + name).encode()):012d}",
        "generation": "3",
        "createTime": "2026-06-02T09:14:03.114021Z",
        "updateTime": "2026-08-20T16:41:55.870316Z",
        "creator": "ops@petshop.example",
        "lastModifier": "ops@petshop.example",
        "ingress": 1,
        "launchStage": 5,
        "template": template,
        "traffic": [{"type": 1, "percent": 100}],
        "observedGeneration": "3",
        "terminalCondition": {
            "type": "Ready",
            "state": 4,
            "lastTransitionTime": "2026-08-20T16:42:31.021551Z",
        },
        "latestReadyRevision": revision,
        "latestCreatedRevision": revision,
        "trafficStatuses": [{"type": 1, "percent": 100}],
        "uri": f"https://{name}-{PROJECT_NUMBER}.{region}.run.app",
        "etag": '"CLfP5bYGEJDw8qkD/cHJvamVjdHMvcGV0c2hvcC1wcm9k"',
    }


def services_response(*services: dict[str, Any]) -> dict[str, Any]:
    return {"services": list(services)} if services else {}
