"""Write the example snapshot folders (run from the repository root).

    .venv/bin/python -m tests.deploy.snapshots.regenerate

Each folder holds what ``cutout deploy snapshot DIR`` saves: ``quotaInfos.json`` (Cloud
Quotas ``ListQuotaInfos`` for run.googleapis.com) and ``services-REGION.json`` (Run v2
``ListServices``), in the REST API's camelCase JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy.rest_shapes import quota_info, quota_infos_response, service, services_response

__all__ = ["SCENARIOS", "main"]

HERE = Path(__file__).resolve().parent
ZONAL = "NvidiaL4GpuAllocPerProjectRegion"
NO_ZONAL = "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion"
CPU = "CpuAllocPerProjectRegion"
MEM = "MemAllocPerProjectRegion"
GIB = 2**30
ALL_REGIONS = (
    "asia-southeast1",
    "europe-west1",
    "europe-west4",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
)


def _quotas(
    zonal: dict[str, int], no_zonal: dict[str, int], cpu: int, memory: int
) -> dict[str, Any]:
    return quota_infos_response(
        quota_info(ZONAL, zonal, default=0, default_locations=ALL_REGIONS),
        quota_info(NO_ZONAL, no_zonal, default=0, default_locations=ALL_REGIONS),
        quota_info(CPU, {}, default=cpu, default_locations=ALL_REGIONS),
        quota_info(MEM, {}, default=memory, default_locations=ALL_REGIONS),
    )


SCENARIOS: dict[str, dict[str, Any]] = {
    # Zonal-redundant L4 quota 0, 3 without: GPU without zonal redundancy. The old
    # CPU revision of `cutout` itself is in the region and must not count.
    "zonal-none": {
        "quotaInfos.json": _quotas({"us-central1": 0}, {"us-central1": 3}, 200_000, 400 * GIB),
        "services-us-central1.json": services_response(
            service("cutout", "us-central1", max_instances=10, cpu="8", memory="16Gi"),
            service("thumbnailer", "us-central1", max_instances=20, cpu="1", memory="512Mi"),
        ),
        "services-europe-west4.json": services_response(),
    },
    # No GPU quota anywhere, 20 vCPU / 40 GiB per region (a new project): the CPU
    # fallback (8 vCPU, 16 GiB) fits 2 instances.
    "no-gpu-quota": {
        "quotaInfos.json": _quotas({}, {}, 20_000, 40 * GIB),
        "services-us-central1.json": services_response(),
        "services-europe-west4.json": services_response(),
    },
    # The original incident: `cutout-batch` holds all 3 zonal L4s in us-central1 and
    # there is no other L4 quota there; europe-west4 has 2 L4s without zonal redundancy.
    "incident": {
        "quotaInfos.json": _quotas(
            {"us-central1": 3}, {"us-central1": 0, "europe-west4": 2}, 200_000, 400 * GIB
        ),
        "services-us-central1.json": services_response(
            service(
                "cutout-batch", "us-central1", max_instances=3, cpu="4", memory="16Gi", gpu=True
            ),
            service("cutout", "us-central1", max_instances=3, cpu="4", memory="16Gi", gpu=True),
        ),
        "services-europe-west4.json": services_response(),
    },
    # Regions us-east1 (no Cloud Run L4) then europe-west4 (3 zonal L4s).
    "first-region-no-l4": {
        "quotaInfos.json": _quotas({"europe-west4": 3}, {"europe-west4": 3}, 200_000, 400 * GIB),
        "services-us-east1.json": services_response(
            service("storefront", "us-east1", max_instances=None, cpu="2", memory="1Gi")
        ),
        "services-europe-west4.json": services_response(),
    },
    # For `deploy job plan`: 4 L4s without zonal redundancy in us-central1, of which the
    # `cutout` service holds 2 at max instances; a job replaces no service, so 2 are left
    # for its parallel tasks.
    "job-shared-l4": {
        "quotaInfos.json": _quotas({"us-central1": 0}, {"us-central1": 4}, 200_000, 400 * GIB),
        "services-us-central1.json": services_response(
            service(
                "cutout",
                "us-central1",
                max_instances=2,
                cpu="4",
                memory="16Gi",
                gpu=True,
                zonal=False,
            ),
        ),
        "services-europe-west4.json": services_response(),
    },
    # No GPU quota and only 4 vCPU per region: nothing fits.
    "nothing-fits": {
        "quotaInfos.json": _quotas({}, {}, 4_000, 40 * GIB),
        "services-us-central1.json": services_response(),
        "services-europe-west4.json": services_response(),
    },
}


def main() -> None:
    for name, files in SCENARIOS.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        for filename, body in files.items():
            (folder / filename).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
