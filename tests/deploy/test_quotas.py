"""Quota limits from ListQuotaInfos, usage from ListServices, and snapshot folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud import cloudquotas_v1, run_v2

from cutout.deploy.quotas import limits_by_region, service_allocation, usage_in_region
from cutout.deploy.snapshot import SnapshotError, load_snapshot, read_services
from cutout.deploy.types import CPU_QUOTA, L4_NO_ZONAL_QUOTA, L4_ZONAL_QUOTA, MEMORY_QUOTA
from cutout.errors import DeployError
from tests.deploy.planning import GIB
from tests.deploy.rest_shapes import (
    quota_info,
    quota_infos_response,
    service,
    services_response,
)

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def _infos(*infos: dict[str, object]) -> list[cloudquotas_v1.QuotaInfo]:
    body = json.dumps(quota_infos_response(*infos))
    return list(cloudquotas_v1.ListQuotaInfosResponse.from_json(body).quota_infos)


def _services(*services: dict[str, object]) -> list[run_v2.Service]:
    body = json.dumps(services_response(*services))
    return list(run_v2.ListServicesResponse.from_json(body).services)


def test_limits_per_region_from_dimensions_infos() -> None:
    infos = _infos(
        quota_info(L4_ZONAL_QUOTA, {"us-central1": 0}, default=3, default_locations=()),
        quota_info(L4_NO_ZONAL_QUOTA, {"us-central1": 3, "europe-west4": 1}),
        quota_info(
            CPU_QUOTA,
            {"us-central1": 20_000},
            default=200_000,
            default_locations=("us-central1", "europe-west4"),
        ),
        quota_info(
            MEMORY_QUOTA, {"europe-west4": -1}, default=40 * GIB, default_locations=("us-central1",)
        ),
    )
    limits = limits_by_region(infos, ["us-central1", "europe-west4", "asia-south1"])
    central, west, south = limits["us-central1"], limits["europe-west4"], limits["asia-south1"]
    # a region's own entry beats the default
    assert (central.l4_gpus_zonal, central.l4_gpus_no_zonal) == (0, 3)
    assert central.cpu_milli == 20_000 and central.memory_bytes == 40 * GIB
    # the default with no applicableLocations applies everywhere
    assert west.l4_gpus_zonal == 3 and south.l4_gpus_zonal == 3
    assert west.l4_gpus_no_zonal == 1 and west.cpu_milli == 200_000
    # negative = unlimited
    assert west.memory_bytes is None
    # not listed and not in the default's locations: nothing there
    assert south.l4_gpus_no_zonal == 0 and south.cpu_milli == 0 and south.memory_bytes == 0


def test_a_quota_the_api_did_not_list_is_zero_and_foreign_quotas_are_ignored() -> None:
    infos = _infos(quota_info(CPU_QUOTA, {"us-central1": 8000}))
    infos.append(cloudquotas_v1.QuotaInfo(quota_id="RequestsPerMinute", dimensions_infos=[]))
    limits = limits_by_region(infos, ["us-central1"])["us-central1"]
    assert limits.cpu_milli == 8000
    assert limits.l4_gpus_zonal == 0 and limits.l4_gpus_no_zonal == 0 and limits.memory_bytes == 0


def test_usage_is_max_instances_times_resources_of_other_services() -> None:
    services = _services(
        service("cutout", "us-central1", max_instances=5, cpu="4", memory="16Gi", gpu=True),
        service("batch", "us-central1", max_instances=2, cpu="4000m", memory="16Gi", gpu=True),
        service(
            "batch-eu",
            "us-central1",
            max_instances=3,
            cpu="8",
            memory="32Gi",
            gpu=True,
            zonal=False,
        ),
        service("web", "us-central1", max_instances=10, cpu="0.5", memory="512Mi"),
        service("defaults", "us-central1", max_instances=None, cpu=None, memory=None),
        service("elsewhere", "europe-west4", max_instances=7, cpu="2", memory="1Gi"),
    )
    usage = usage_in_region(services, "us-central1", exclude="cutout")
    assert usage.services == ("batch", "batch-eu", "web", "defaults")
    assert usage.l4_gpus_zonal == 2
    assert usage.l4_gpus_no_zonal == 3
    # 2x4 + 3x8 + 10x0.5 + 100 (default max) x 1 (default CPU)
    assert usage.cpu_milli == 8000 + 24_000 + 5000 + 100_000
    assert usage.memory_bytes == 2 * 16 * GIB + 3 * 32 * GIB + 10 * 512 * 2**20 + 100 * 512 * 2**20


def test_the_replaced_service_is_excluded() -> None:
    services = _services(
        service("cutout", "us-central1", max_instances=3, cpu="4", memory="16Gi", gpu=True)
    )
    assert usage_in_region(services, "us-central1", exclude="cutout").l4_gpus_zonal == 0
    assert usage_in_region(services, "us-central1", exclude="other").l4_gpus_zonal == 3


def test_service_level_scaling_caps_and_manual_mode() -> None:
    capped = run_v2.Service(
        name="projects/p/locations/us-central1/services/capped",
        template=run_v2.RevisionTemplate(scaling=run_v2.RevisionScaling(max_instance_count=10)),
        scaling=run_v2.ServiceScaling(max_instance_count=4),
    )
    manual = run_v2.Service(
        name="projects/p/locations/us-central1/services/manual",
        scaling=run_v2.ServiceScaling(
            scaling_mode=run_v2.ServiceScaling.ScalingMode.MANUAL, manual_instance_count=6
        ),
    )
    assert service_allocation(capped)[4] == 4
    assert service_allocation(manual)[4] == 6
    # no containers listed: Cloud Run's defaults of 1 vCPU and 512 MiB
    assert service_allocation(manual)[2:4] == (1000, 512 * 2**20)


def test_unreadable_limits_are_a_deploy_error() -> None:
    bad = _services(service("bad", "us-central1", max_instances=1, cpu="lots"))
    with pytest.raises(DeployError, match=r"service projects/.*/bad: unreadable resource limits"):
        usage_in_region(bad, "us-central1", exclude="cutout")


def test_snapshot_zonal_none_excludes_the_old_cutout_revision() -> None:
    snap = load_snapshot(SNAPSHOTS / "zonal-none", ("us-central1", "europe-west4"), "cutout")
    central = snap.usage["us-central1"]
    assert central.services == ("thumbnailer",)
    assert central.cpu_milli == 20 * 1000  # 20 x 1 vCPU; cutout's 10 x 8 vCPU left out
    assert snap.limits["us-central1"].l4_gpus_zonal == 0
    assert snap.limits["us-central1"].l4_gpus_no_zonal == 3
    assert snap.limits["europe-west4"].cpu_milli == 200_000
    assert snap.usage["europe-west4"].services == ()


def test_snapshot_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    (tmp_path / "quotaInfos.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"services-us-central1\.json: missing \(save one"):
        load_snapshot(tmp_path, ("us-central1",), "cutout")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "a ListServicesResponse is a JSON object"),
        ('{"list_services": []}', "unexpected field 'list_services'"),
        ('{"services": [], "nextPageToken": "abc"}', "holds only the first page"),
        (
            '{"services": [{"template": {"scaling": {"maxInstanceCount": "many"}}}]}',
            "not a ListServicesResponse",
        ),
    ],
)
def test_snapshot_bad_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "services-us-central1.json").write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError, match=message):
        read_services(tmp_path, "us-central1")


def test_snapshot_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not a folder"):
        load_snapshot(tmp_path / "absent", ("us-central1",), "cutout")


def test_example_snapshots_parse_with_the_real_messages() -> None:
    folders = sorted(p for p in SNAPSHOTS.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert len(folders) >= 5
    for folder in folders:
        body = (folder / "quotaInfos.json").read_text(encoding="utf-8")
        infos = cloudquotas_v1.ListQuotaInfosResponse.from_json(body).quota_infos
        assert {i.quota_id for i in infos} == {
            L4_ZONAL_QUOTA,
            L4_NO_ZONAL_QUOTA,
            CPU_QUOTA,
            MEMORY_QUOTA,
        }
        for path in folder.glob("services-*.json"):
            run_v2.ListServicesResponse.from_json(path.read_text(encoding="utf-8"))
