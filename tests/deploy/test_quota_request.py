"""Quota requests: a QuotaPreference through the real Cloud Quotas client, granted value
reported as it comes back (0 is a valid answer)."""

from __future__ import annotations

import pytest

from cutout.deploy.gcp import GcpClients
from cutout.deploy.quota_request import request_gpu_quota
from cutout.errors import ConfigError
from tests.fakes.fixtures import GPU_NO_ZR, GPU_ZR, PROJECT, fake_gcp, gcp_clients
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]


def test_request_without_zonal_redundancy_reports_granted_value(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "europe-west4", 0)
    fake_gcp.quotas.grant = lambda preference: 2  # Google grants 2 of the 3 asked

    report = request_gpu_quota(
        gcp_clients,
        PROJECT,
        "europe-west4",
        3,
        email="ops@petshop.example",
        zonal_redundancy=False,
    )

    assert (report.quota_id, report.previous_limit, report.preferred, report.granted) == (
        GPU_NO_ZR,
        0,
        3,
        2,
    )
    assert report.reconciling is True
    sent = fake_gcp.requests_to("POST", "/quotaPreferences")[0]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/global/quotaPreferences"
    assert sent.body is not None
    assert sent.body["service"] == "run.googleapis.com"
    assert sent.body["quotaId"] == GPU_NO_ZR
    assert sent.body["dimensions"] == {"region": "europe-west4"}
    assert sent.body["quotaConfig"] == {"preferredValue": "3"}
    assert sent.body["contactEmail"] == "ops@petshop.example"
    assert "L4" in sent.body["justification"]
    # the grant shows up in the limits the planner reads next
    assert fake_gcp.quotas.limit(GPU_NO_ZR, "europe-west4") == 2


def test_granted_zero_is_reported_not_hidden(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    report = request_gpu_quota(gcp_clients, PROJECT, "us-central1", 1, email="ops@petshop.example")
    assert report.quota_id == GPU_ZR
    assert report.granted == 0
    assert "granted 0 (under review)" in report.lines()[0]


@pytest.mark.parametrize(
    ("gpus", "email", "message"),
    [(0, "ops@petshop.example", "--gpus 0"), (1, "not-an-email", "--email")],
)
def test_bad_arguments_are_refused_before_any_request(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, gpus: int, email: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        request_gpu_quota(gcp_clients, PROJECT, "us-central1", gpus, email=email)
    assert fake_gcp.requests == []
