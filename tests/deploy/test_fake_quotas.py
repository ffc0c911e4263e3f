"""The fake Cloud Quotas API v1 through the real ``CloudQuotasClient``."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import cloudquotas_v1

from cutout.deploy.gcp import GcpClients
from tests.fakes.fixtures import GPU_NO_ZR, GPU_ZR, PROJECT, fake_gcp, gcp_clients
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]

PARENT = f"projects/{PROJECT}/locations/global/services/run.googleapis.com"


def test_get_quota_info_returns_limits_per_region(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "europe-west4", 3)
    fake_gcp.quotas.defaults[GPU_NO_ZR] = 1
    info = gcp_clients.quotas.get_quota_info(name=f"{PARENT}/quotaInfos/{GPU_NO_ZR}")
    assert info.quota_id == GPU_NO_ZR
    assert info.service == "run.googleapis.com"
    assert list(info.dimensions) == ["region"]
    assert info.container_type == cloudquotas_v1.QuotaInfo.ContainerType.PROJECT
    values = {d.dimensions.get("region", "*"): d.details.value for d in info.dimensions_infos}
    assert values == {"*": 1, "europe-west4": 3}


def test_list_quota_infos_pages(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    pager = gcp_clients.quotas.list_quota_infos(request={"parent": PARENT, "page_size": 3})
    assert len(list(pager)) == 4
    assert len(fake_gcp.requests_to("GET", "/quotaInfos")) == 2


def test_unknown_quota_and_compute_engine_parent_are_not_found(
    gcp_clients: GcpClients,
) -> None:
    with pytest.raises(gexc.NotFound):
        gcp_clients.quotas.get_quota_info(name=f"{PARENT}/quotaInfos/NVIDIA_L4_GPUS")
    with pytest.raises(gexc.NotFound):
        gcp_clients.quotas.get_quota_info(
            name=f"projects/{PROJECT}/locations/global/services/compute.googleapis.com"
            f"/quotaInfos/{GPU_ZR}"
        )


def test_an_increase_needs_a_contact_email(gcp_clients: GcpClients) -> None:
    preference = cloudquotas_v1.QuotaPreference(
        service="run.googleapis.com",
        quota_id=GPU_ZR,
        dimensions={"region": "us-central1"},
        quota_config=cloudquotas_v1.QuotaConfig(preferred_value=2),
    )
    with pytest.raises(gexc.BadRequest, match="contact_email"):
        gcp_clients.quotas.create_quota_preference(
            parent=f"projects/{PROJECT}/locations/global", quota_preference=preference
        )
