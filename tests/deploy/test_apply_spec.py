"""The revision template and traffic arithmetic apply sends (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.cloud import run_v2

from cutout.deploy.config import DeployConfig
from cutout.deploy.plan import make_plan
from cutout.deploy.service_spec import (
    build_service,
    keep_serving_traffic,
    new_revision_name,
    split_traffic,
)
from cutout.deploy.types import Candidate, QuotaLimits, RegionUsage
from tests.fakes.fixtures import make_config

LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
GIB = 2**30


def candidates(gpu_zr: int, gpu_no_zr: int) -> tuple[DeployConfig, Candidate]:
    config = make_config(regions=["us-central1"])
    limits = {"us-central1": QuotaLimits("us-central1", gpu_zr, gpu_no_zr, 200_000, 400 * GIB)}
    plan = make_plan(config, limits, {"us-central1": RegionUsage("us-central1")})
    assert plan.chosen is not None
    return config, plan.chosen


def test_revision_name_is_prefixed_and_unique_per_attempt() -> None:
    _, chosen = candidates(3, 3)
    when = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    assert new_revision_name("cutout", chosen, 1, when) == "cutout-gpu-20261129-013000-1"
    assert new_revision_name("cutout", chosen, 2, when) != new_revision_name(
        "cutout", chosen, 1, when
    )


def test_cpu_candidate_has_no_gpu_settings() -> None:
    config, chosen = candidates(0, 0)
    assert chosen.kind == "cpu"
    service = build_service(config, chosen, "cutout-cpu-x-1", None)
    template = service.template
    assert dict(template.containers[0].resources.limits) == {"cpu": "8", "memory": "16Gi"}
    assert template.node_selector.accelerator == ""
    assert template.gpu_zonal_redundancy_disabled is False
    assert not template.annotations  # v2 rejects run.googleapis.com/* and autoscaling.*
    assert template.scaling.max_instance_count == chosen.max_instances
    assert template.containers[0].startup_probe.http_get.path == "/ready"
    assert template.containers[0].liveness_probe.http_get.path == "/health"
    env = {e.name: e.value for e in template.containers[0].env}
    assert env == {"CUTOUT_MODEL": "inspyrenet-fast", "CUTOUT_DEVICE": "cpu"}


def test_gpu_candidate_requires_its_gpu() -> None:
    config, chosen = candidates(3, 3)
    assert chosen.kind == "gpu"
    container = build_service(config, chosen, "cutout-gpu-x-1", None).template.containers[0]
    env = {e.name: e.value for e in container.env}
    assert env["CUTOUT_REQUIRE_GPU"] == "1" and env["CUTOUT_DEVICE"] == "cuda"
    assert container.startup_probe.http_get.path == "/ready"
    probe = container.liveness_probe
    assert probe.http_get.path == "/health"
    assert probe.period_seconds * probe.failure_threshold == 90


def test_existing_latest_traffic_is_pinned_and_candidate_gets_zero() -> None:
    config, chosen = candidates(3, 3)
    existing = run_v2.Service(
        name="projects/p/locations/us-central1/services/cutout",
        latest_ready_revision="projects/p/locations/us-central1/services/cutout/revisions/old-1",
        traffic=[
            run_v2.TrafficTarget(type_=LATEST, percent=100),
            run_v2.TrafficTarget(type_=REVISION, revision="prev-0", percent=0, tag="candidate"),
            run_v2.TrafficTarget(type_=REVISION, revision="pr-7", percent=0, tag="pr-7"),
        ],
    )
    service = build_service(config, chosen, "cutout-gpu-new-1", existing)
    assert [(t.type_, t.revision, t.percent, t.tag) for t in service.traffic] == [
        (REVISION, "old-1", 100, ""),  # LATEST pinned; the old candidate tag is dropped
        (REVISION, "pr-7", 0, "pr-7"),
        (REVISION, "cutout-gpu-new-1", 0, "candidate"),
    ]
    assert keep_serving_traffic(existing)[0].revision == "old-1"


def test_split_traffic_shares_the_rest_pro_rata_and_sums_to_100() -> None:
    old = [
        run_v2.TrafficTarget(type_=REVISION, revision="a", percent=67),
        run_v2.TrafficTarget(type_=REVISION, revision="b", percent=33),
        run_v2.TrafficTarget(type_=REVISION, revision="c", percent=0, tag="keep"),
    ]
    for percent in (1, 10, 33, 50, 99):
        targets = split_traffic(old, "new", percent, tag="candidate")
        assert sum(t.percent for t in targets) == 100
        assert targets[0].revision == "new" and targets[0].percent == percent
        assert targets[-1].tag == "keep" and targets[-1].percent == 0
    shares = {t.revision: t.percent for t in split_traffic(old, "new", 10, tag="candidate")}
    assert shares == {"new": 10, "a": 60, "b": 30, "c": 0}
