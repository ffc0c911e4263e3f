"""Status: revisions with device, model, traffic and tags; quota headroom; cost rate."""

from __future__ import annotations

import json

import pytest
from google.cloud import run_v2

from cutout.cli.main import main
from cutout.deploy.gcp import GcpClients
from cutout.deploy.plan import quota_uses
from cutout.deploy.status import read_status, status_lines
from cutout.deploy.types import QUOTA_IDS, QuotaLimits, QuotaUse, RegionUsage
from tests.conftest import REPO
from tests.fakes.fixtures import (
    CPU_QUOTA,
    GIB,
    GPU_NO_ZR,
    GPU_ZR,
    MEM_QUOTA,
    PROJECT,
    fake_gcp,
    gcp_clients,
    make_config,
    push_revisions,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]


def push_gpu_service(clients: GcpClients, region: str, service: str, *, max_instances: int) -> None:
    """Another team's L4 service without zonal redundancy (4 vCPU, 16 GiB)."""
    template = run_v2.RevisionTemplate(
        containers=[
            run_v2.Container(
                image="example.com/other:1",
                resources=run_v2.ResourceRequirements(
                    limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}, cpu_idle=False
                ),
            )
        ],
        scaling=run_v2.RevisionScaling(max_instance_count=max_instances),
        node_selector=run_v2.NodeSelector(accelerator="nvidia-l4"),
        gpu_zonal_redundancy_disabled=True,
    )
    operation = clients.services.create_service(
        parent=f"projects/{PROJECT}/locations/{region}",
        service=run_v2.Service(template=template),
        service_id=service,
    )
    clients.wait("create", operation, 10)


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


def test_quota_use_boundaries() -> None:
    assert QuotaUse(CPU_QUOTA, "r", 4000, 5000).at_or_above(80)  # exactly 80 %
    assert not QuotaUse(CPU_QUOTA, "r", 3999, 5000).at_or_above(80)
    assert QuotaUse(CPU_QUOTA, "r", 4000, 5000).percent == 80.0
    assert QuotaUse(GPU_ZR, "r", 0, 0).percent is None  # not offered, unused
    assert not QuotaUse(GPU_ZR, "r", 0, 0).at_or_above(1)
    assert QuotaUse(GPU_ZR, "r", 1, 0).at_or_above(80)  # a limit lowered under the usage
    assert QuotaUse(GPU_ZR, "r", 1, 0).to_json()["percent"] is None
    assert not QuotaUse(CPU_QUOTA, "r", 10**9, None).at_or_above(1)  # unlimited
    assert QuotaUse(CPU_QUOTA, "r", 4000, 5000).headroom == 1000


def test_quota_uses_are_the_planners_limits_and_usage() -> None:
    limits = QuotaLimits("us-central1", l4_gpus_zonal=3, l4_gpus_no_zonal=None, cpu_milli=20_000)
    usage = RegionUsage("us-central1", l4_gpus_zonal=3, cpu_milli=16_000, memory_bytes=GIB)
    uses = {use.quota_id: use for use in quota_uses(limits, usage)}
    assert set(uses) == set(QUOTA_IDS)
    assert uses[GPU_ZR].percent == 100.0
    assert uses[GPU_NO_ZR].limit is None
    assert uses[CPU_QUOTA].percent == 80.0
    assert uses[MEM_QUOTA].used == GIB and uses[MEM_QUOTA].limit == 0


# the documented example config: project petshop-prod, us-central1 then europe-west4
CONFIG = str(REPO / "docs" / "cutout-deploy.toml")


@pytest.mark.parametrize(
    ("cpu_limit", "percent", "code"),
    [(5064, "79.0 %", 0), (5000, "80.0 %", 3), (4210, "95.0 %", 3)],
)
def test_check_quota_exits_3_at_or_above_the_percentage(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    capsys: pytest.CaptureFixture[str],
    cpu_limit: int,
    percent: str,
    code: int,
) -> None:
    """The service allocates 2 vCPU x max 2 = 4 vCPU in us-central1; the CPU limit there
    puts that at 79 %, 80 % or 95 %."""
    fake_gcp.quotas.set_limit(CPU_QUOTA, "us-central1", cpu_limit)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    push_revisions(gcp_clients, 1)
    argv = ["deploy", "status", "--config", CONFIG, "--endpoint", fake_gcp.endpoint]

    assert main([*argv, "--check-quota", "80"]) == code
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if "us-central1" in line and CPU_QUOTA in line)
    assert row.split()[1:] == [CPU_QUOTA, "4", "vCPU", f"{cpu_limit / 1000:g}", "vCPU",
                               *percent.split(), *(["<-", "at", "or", "above", "80", "%"]
                                                   if code else [])]  # fmt: skip
    assert "quota use (check at 80 %)" in out
    if code:
        assert err.strip() == (
            f"cutout: quota at or above 80 % of its limit: {CPU_QUOTA} in us-central1"
        )
    else:
        assert err == ""

    assert main([*argv, "--check-quota", "80", "--format", "json"]) == code
    document = json.loads(capsys.readouterr().out)
    over = document["check_quota"]["at_or_above"]
    assert [(u["quota_id"], u["region"]) for u in over] == ([(CPU_QUOTA, "us-central1")] * code)[:1]
    central = document["regions"][0]["quota"]
    cpu = next(u for u in central if u["quota_id"] == CPU_QUOTA)
    assert (cpu["used"], cpu["limit"]) == (4000, cpu_limit)

    assert main(argv) == 0  # without the flag: the status only, exit 0
    assert "quota use" not in capsys.readouterr().out


def test_the_gpu_quota_counts_too(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another service holding 3 of 3 non-zonal L4s in europe-west4: 100 %."""
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "europe-west4", 3)
    push_gpu_service(gcp_clients, "europe-west4", "other", max_instances=3)
    argv = ["deploy", "status", "--config", CONFIG, "--endpoint", fake_gcp.endpoint]
    assert main([*argv, "--check-quota", "95"]) == 3
    out, err = capsys.readouterr()
    assert f"{GPU_NO_ZR} in europe-west4" in err
    row = next(line for line in out.splitlines() if "europe-west4" in line and GPU_NO_ZR in line)
    assert "100.0 %" in row and "<- at or above 95 %" in row


@pytest.mark.parametrize("bad", ["0", "120", "abc", "-5"])
def test_check_quota_usage_errors_exit_2(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["deploy", "status", "--config", CONFIG, "--check-quota", bad])
    assert usage.value.code == 2
    assert "--check-quota" in capsys.readouterr().err
