"""Reading the live APIs into planner inputs, and snapshots in the REST JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

from cutout.deploy.gcp import GcpClients
from cutout.deploy.live import read_live, save_snapshot
from cutout.deploy.snapshot import load_snapshot
from tests.fakes.fixtures import (
    CPU_QUOTA,
    GPU_NO_ZR,
    GPU_ZR,
    MEM_QUOTA,
    fake_gcp,
    gcp_clients,
    make_config,
    push_revisions,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]

GIB = 2**30


def seed(fake: FakeGcp, clients: GcpClients) -> None:
    fake.quotas.set_limit(GPU_ZR, "us-central1", 0)
    fake.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    fake.quotas.set_limit(CPU_QUOTA, "us-central1", 20_000)
    push_revisions(clients, 1)  # the service being replaced: must not count as usage


def test_read_live_reads_limits_and_other_services_usage(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    seed(fake_gcp, gcp_clients)
    config = make_config()

    snapshot = read_live(gcp_clients, config)

    central = snapshot.limits["us-central1"]
    assert (central.l4_gpus_zonal, central.l4_gpus_no_zonal, central.cpu_milli) == (0, 3, 20_000)
    assert central.memory_bytes == 400 * GIB
    assert snapshot.usage["us-central1"].cpu_milli == 0  # "cutout" itself is excluded
    other = make_config(service="other")
    assert read_live(gcp_clients, other).usage["us-central1"].cpu_milli == 2 * 2000
    assert fake_gcp.requests_to("GET", "/quotaInfos")[0].path == (
        "/v1/projects/petshop-prod/locations/global/services/run.googleapis.com/quotaInfos"
    )


def test_snapshot_round_trips_through_the_offline_reader(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, tmp_path: Path
) -> None:
    seed(fake_gcp, gcp_clients)
    config = make_config(service="other")

    paths = save_snapshot(gcp_clients, config.project, config.regions, tmp_path / "snap")

    assert sorted(p.name for p in paths) == [
        "quotaInfos.json",
        "services-europe-west4.json",
        "services-us-central1.json",
    ]
    infos = json.loads((tmp_path / "snap" / "quotaInfos.json").read_text())
    gpu = next(i for i in infos["quotaInfos"] if i["quotaId"] == GPU_NO_ZR)
    assert gpu["dimensionsInfos"][0] == {
        "dimensions": {"region": "us-central1"},
        "details": {"value": "3"},
        "applicableLocations": ["us-central1"],
    }
    services = json.loads((tmp_path / "snap" / "services-us-central1.json").read_text())
    template = services["services"][0]["template"]
    assert template["scaling"]["maxInstanceCount"] == 2
    assert services["services"][0]["terminalCondition"]["state"] == 4  # integer enums
    offline = load_snapshot(tmp_path / "snap", config.regions, config.service)
    assert offline == read_live(gcp_clients, config)
    assert {i["quotaId"] for i in infos["quotaInfos"]} == {GPU_ZR, GPU_NO_ZR, CPU_QUOTA, MEM_QUOTA}
