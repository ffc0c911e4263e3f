"""The fake Run Admin API v2 behaves like the real one where the tooling depends on it:
wire format, long-running operations, readiness fields, admission with the real texts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud import run_v2

from cutout.deploy.errors import QuotaExceededError, ResourceNotFoundError
from cutout.deploy.gcp import GcpClients
from tests.fakes.fixtures import (
    CPU_QUOTA,
    GPU_NO_ZR,
    GPU_ZR,
    MEM_QUOTA,
    PROJECT,
    fake_gcp,
    gcp_clients,
    push_revisions,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]

PARENT = f"projects/{PROJECT}/locations/us-central1"
SERVICE = f"{PARENT}/services/cutout"
GIB = 2**30


def gpu_service(max_instances: int, *, zonal: bool = True, cpu: str = "4") -> run_v2.Service:
    return run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image="example.com/cutout:gpu",
                    resources=run_v2.ResourceRequirements(
                        limits={"cpu": cpu, "memory": "16Gi", "nvidia.com/gpu": "1"},
                        cpu_idle=False,
                    ),
                )
            ],
            node_selector=run_v2.NodeSelector(accelerator="nvidia-l4"),
            gpu_zonal_redundancy_disabled=not zonal,
            scaling=run_v2.RevisionScaling(max_instance_count=max_instances),
        )
    )


def cpu_service(max_instances: int, cpu: str, memory: str) -> run_v2.Service:
    return run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image="example.com/cutout:cpu",
                    resources=run_v2.ResourceRequirements(limits={"cpu": cpu, "memory": memory}),
                )
            ],
            scaling=run_v2.RevisionScaling(max_instance_count=max_instances),
        )
    )


def create(clients: GcpClients, service: run_v2.Service, service_id: str = "cutout") -> Any:
    return clients.call(
        "create",
        clients.services.create_service,
        parent=PARENT,
        service=service,
        service_id=service_id,
    )


def test_enums_are_integers_only_when_the_client_asks(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    push_revisions(gcp_clients, 1)
    # the Python client always asks for integers (operations polling aside)
    assert all(
        r.query.get("$alt") == "json;enum-encoding=int"
        for r in fake_gcp.requests
        if "/operations/" not in r.path
    )
    url = f"{fake_gcp.endpoint}/v2/{SERVICE}"
    as_ints = httpx.get(url, params={"$alt": "json;enum-encoding=int"}).json()
    as_names = httpx.get(url).json()
    assert as_ints["terminalCondition"]["state"] == 4
    assert as_names["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    assert as_ints["generation"] == "1"  # int64 as a JSON string
    assert as_ints["latestReadyRevision"] == as_ints["latestCreatedRevision"]
    assert as_ints["latestReadyRevision"].startswith(f"{SERVICE}/revisions/cutout-00001-")


def test_unknown_fields_are_refused_like_google(fake_gcp: FakeGcp) -> None:
    response = httpx.post(
        f"{fake_gcp.endpoint}/v2/{PARENT}/services",
        params={"serviceId": "cutout"},
        json={"template": {"containers": [{"image": "x"}]}, "gpuQuotaAware": True},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_create_is_a_long_running_operation_and_readiness_fields_settle(
    gcp_clients: GcpClients,
) -> None:
    with FakeGcp(PROJECT, settle_after=3) as slow:
        clients = GcpClients.create(endpoint=slow.endpoint)
        operation = create(clients, cpu_service(2, "2", "4Gi"))
        assert operation.operation.name.startswith(f"{PARENT}/operations/")
        assert operation.done() is False
        early = clients.services.get_service(name=SERVICE)
        assert early.reconciling is True
        assert early.latest_ready_revision == ""
        assert early.latest_created_revision.startswith(f"{SERVICE}/revisions/")
        service = clients.wait("create", operation, 10)
        assert service.reconciling is False
        assert service.observed_generation == service.generation == 1
        assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
        assert service.latest_ready_revision == service.latest_created_revision


def test_revisions_list_newest_first_across_pages(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    made = push_revisions(gcp_clients, 5)
    pager = gcp_clients.revisions.list_revisions(request={"parent": SERVICE, "page_size": 2})
    listed = [r.name.rsplit("/", 1)[-1] for r in pager]
    assert listed == list(reversed(made))
    assert len(fake_gcp.requests_to("GET", "/revisions")) == 3  # 2 + 2 + 1


def test_failed_revision_keeps_latest_ready_on_the_previous_one(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    (first,) = push_revisions(gcp_clients, 1)
    fake_gcp.run.fail_next_revision("Container failed to start.")
    service = gcp_clients.services.get_service(name=SERVICE)
    service.template.containers[0].image = "example.com/cutout:broken"
    operation = gcp_clients.services.update_service(service=service)
    with pytest.raises(gexc.FailedPrecondition, match="is not ready and cannot serve traffic"):
        operation.result(timeout=10)
    after = gcp_clients.services.get_service(name=SERVICE)
    assert after.latest_ready_revision.endswith(first)
    assert after.latest_created_revision != after.latest_ready_revision
    assert after.terminal_condition.state == run_v2.Condition.State.CONDITION_FAILED
    assert [(t.revision, t.percent) for t in after.traffic_statuses] == [(first, 100)]


def test_v2_refuses_knative_and_run_annotations(gcp_clients: GcpClients) -> None:
    service = cpu_service(2, "2", "4Gi")
    service.template.annotations["run.googleapis.com/gpu-quota-aware"] = "true"
    with pytest.raises(Exception, match="not supported in the v2 API"):
        create(gcp_clients, service)


def test_no_l4_in_us_east1(gcp_clients: GcpClients) -> None:
    with pytest.raises(Exception, match="not supported in region us-east1"):
        gcp_clients.call(
            "create",
            gcp_clients.services.create_service,
            parent=f"projects/{PROJECT}/locations/us-east1",
            service=gpu_service(1),
            service_id="cutout",
        )


def test_zonal_quota_zero_gives_the_servers_hint(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 0)
    with pytest.raises(QuotaExceededError) as caught:
        create(gcp_clients, gpu_service(3))
    assert "You could deploy using GPUs without zonal redundancy instead." in caught.value.message
    assert caught.value.violation.zonal_redundancy_hint is True
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message.count("You do not have quota") == 1  # message + detail, once
    assert SERVICE not in fake_gcp.run.services  # refused at admission: nothing created


def test_cpu_quota_text_matches_the_servers(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    fake_gcp.quotas.set_limit(CPU_QUOTA, "us-central1", 20_000)
    with pytest.raises(QuotaExceededError) as caught:
        create(gcp_clients, cpu_service(10, "6", "8Gi"))
    message = caught.value.message
    assert (
        "spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]: Max instances "
        "must be set to 3 or fewer to set the requested total CPU." in message
    )
    assert "Quota violated: CpuAllocPerProjectRegion requested: 60000 allowed: 20000" in message
    violation = caught.value.violation
    assert (violation.quota_id, violation.requested, violation.allowed) == (
        CPU_QUOTA,
        60000,
        20000,
    )
    assert violation.max_instances_allowed == 3


def test_memory_quota_text_matches_a_real_report(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    # googlecodelabs/feedback#2311: 80 GiB x 1 against a 40 GiB region
    fake_gcp.quotas.set_limit(MEM_QUOTA, "us-central1", 40 * GIB)
    with pytest.raises(QuotaExceededError) as caught:
        create(gcp_clients, cpu_service(1, "8", "80Gi"))
    assert (
        "Max instances must be set to 0 or fewer to set the requested total memory. Consider "
        "running your workload in a region with greater capacity, or requesting an increase "
        "in quota for this region. Quota violated: MemAllocPerProjectRegion requested: "
        "85899345920 allowed: 42949672960" in caught.value.message
    )


def test_admission_counts_other_services_at_max_instances(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    first = create(gcp_clients, gpu_service(2, zonal=False), service_id="other")
    gcp_clients.wait("create", first, 10)
    with pytest.raises(QuotaExceededError) as caught:
        create(gcp_clients, gpu_service(2, zonal=False))
    assert caught.value.violation.quota_id == GPU_NO_ZR
    assert caught.value.violation.allowed == 1
    gcp_clients.wait("create", create(gcp_clients, gpu_service(1, zonal=False)), 10)


def test_validate_only_creates_nothing(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    gcp_clients.services.create_service(
        request={
            "parent": PARENT,
            "service": cpu_service(1, "1", "1Gi"),
            "service_id": "cutout",
            "validate_only": True,
        }
    )
    assert fake_gcp.run.services == {} and fake_gcp.run.revisions == {}


def test_stale_etag_is_aborted(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    push_revisions(gcp_clients, 1)
    stale = gcp_clients.services.get_service(name=SERVICE)
    push_revisions(gcp_clients, 1)
    stale.template.containers[0].image = "example.com/cutout:stale"
    with pytest.raises(gexc.Conflict):  # ABORTED is HTTP 409, which api_core names Conflict
        gcp_clients.services.update_service(service=stale)


def test_missing_service_is_not_found(gcp_clients: GcpClients) -> None:
    with pytest.raises(ResourceNotFoundError, match="read it"):
        gcp_clients.call("read it", gcp_clients.services.get_service, name=SERVICE)
