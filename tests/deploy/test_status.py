"""Status: revisions with device, model, traffic and tags; quota headroom; cost rate."""

from __future__ import annotations

from cutout.deploy.gcp import GcpClients
from cutout.deploy.status import read_status, status_lines
from tests.fakes.fixtures import (
    CPU_QUOTA,
    GPU_NO_ZR,
    GPU_ZR,
    fake_gcp,
    gcp_clients,
    make_config,
    push_revisions,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]


def test_status_reports_revisions_headroom_and_cost(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 0)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    fake_gcp.quotas.set_limit(CPU_QUOTA, "us-central1", 20_000)
    first, second = push_revisions(gcp_clients, 2)  # 2 vCPU / 4 GiB, max 2, LATEST 100 %
    config = make_config()

    regions = read_status(gcp_clients, config)

    central, europe = regions
    assert europe.service is None and europe.revisions == ()
    assert [r.name for r in central.revisions] == [second, first]  # newest first
    top = central.revisions[0]
    assert (top.state, top.percent, top.device, top.max_instances) == ("ready", 100, "cpu", 2)
    assert central.revisions[1].percent == 0
    # headroom counts this service too: 20 vCPU - 2 x 2 vCPU
    assert central.headroom[CPU_QUOTA] == 16_000
    assert central.headroom[GPU_NO_ZR] == 3
    # 2 vCPU x 0.000018 + 4 GiB x 0.000002 per second, Tier 1 prices of 2026-08
    assert abs(top.cost_per_hour_usd - (2 * 0.000018 + 4 * 0.000002) * 3600) < 1e-3
    assert abs(central.max_cost_per_day_usd - top.cost_per_hour_usd * 2 * 24) < 1e-2
    text = "\n".join(status_lines(regions))
    assert "europe-west4: not deployed" in text
    assert f"{second}" in text and "100%" in text
