"""``apply`` end to end: the real Google clients against the fake APIs, the planner on
the live quotas, and a real ``cutout serve`` standing in for each revision URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cutout.deploy.apply import ApplyOptions, ApplyReport, apply
from cutout.deploy.config import DeployConfig
from cutout.deploy.gcp import GcpClients
from cutout.deploy.live import read_live
from cutout.deploy.plan import make_plan
from cutout.deploy.snapshot import load_snapshot
from cutout.deploy.types import Plan
from cutout.deploy.verify import SmokeExpectation
from tests.fakes.fixtures import (
    CPU_QUOTA,
    GPU_NO_ZR,
    GPU_ZR,
    deploy_config,
    fake_gcp,
    gcp_clients,
    make_config,
    smoke_image,
    standin,
    to_standin,
)
from tests.fakes.gcp import FakeGcp

__all__ = [  # fixtures used by name
    "deploy_config",
    "fake_gcp",
    "gcp_clients",
    "smoke_image",
    "standin",
    "to_standin",
]

SERVICE = "projects/petshop-prod/locations/us-central1/services/cutout"
INCIDENT = "Quota exceeded for total allowable count of GPUs per project per region."


def standin_expect(candidate: object) -> SmokeExpectation:
    # The stand-in serves the embedded model on this machine's CPU, whatever was planned.
    return SmokeExpectation("u2netp", "cpu", 60000.0)


def options(image: bytes, url_for: Callable[[str], str], **extra: object) -> ApplyOptions:
    return ApplyOptions(
        image=image,
        url_for=url_for,
        expect=standin_expect,
        poll_s=0.01,
        ready_timeout_s=30,
        **extra,  # type: ignore[arg-type]
    )


def live_plan(clients: GcpClients, config: DeployConfig) -> Plan:
    snapshot = read_live(clients, config)
    return make_plan(config, snapshot.limits, snapshot.usage)


def order(plan: Plan) -> list:  # type: ignore[type-arg]
    assert plan.chosen is not None, plan.requests
    return [plan.chosen, *plan.fallbacks()]


def apply_live(
    clients: GcpClients,
    config: DeployConfig,
    image: bytes,
    url_for: Callable[[str], str],
    **extra: object,
) -> ApplyReport:
    """Plan from the (fake) live APIs, then apply the chosen candidate and its fallbacks."""
    return apply(
        clients, config, order(live_plan(clients, config)), options(image, url_for, **extra)
    )


def env_of(revision: object) -> dict[str, str]:
    return {e.name: e.value for e in revision.containers[0].env}  # type: ignore[attr-defined]


def test_zonal_quota_zero_deploys_gpu_without_zonal_redundancy(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 0)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    plan = live_plan(gcp_clients, deploy_config)
    assert plan.chosen is not None and plan.chosen.kind == "gpu"
    assert plan.chosen.gpu_zonal_redundancy is False

    report = apply(gcp_clients, deploy_config, order(plan), options(smoke_image, to_standin))

    assert report.ok, report.lines()
    revision_name = f"{SERVICE}/revisions/{report.attempts[-1].revision}"
    revision = fake_gcp.run.revisions[revision_name]
    assert revision.gpu_zonal_redundancy_disabled is True
    assert revision.node_selector.accelerator == "nvidia-l4"
    assert revision.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert revision.containers[0].resources.cpu_idle is False
    assert revision.scaling.max_instance_count == 3
    assert env_of(revision)["CUTOUT_DEVICE"] == "cuda"
    assert env_of(revision)["CUTOUT_REQUIRE_GPU"] == "1"
    assert [(t.revision, t.percent) for t in report.traffic] == [
        (report.attempts[-1].revision, 100)
    ]
    # the create was sent with the candidate tag pointing at the named revision
    create = fake_gcp.requests_to("POST", "/services")[0]
    assert create.query["serviceId"] == "cutout"
    assert create.body is not None
    assert create.body["template"]["gpuZonalRedundancyDisabled"] is True
    assert create.body["traffic"][0]["tag"] == "candidate"


def test_no_gpu_quota_anywhere_deploys_cpu_revision_on_fast_model(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    plan = live_plan(gcp_clients, deploy_config)  # no GPU quota set: limit 0 everywhere
    assert plan.chosen is not None and plan.chosen.kind == "cpu"

    report = apply(gcp_clients, deploy_config, order(plan), options(smoke_image, to_standin))

    assert report.ok, report.lines()
    revision = fake_gcp.run.revisions[f"{SERVICE}/revisions/{report.attempts[-1].revision}"]
    limits = dict(revision.containers[0].resources.limits)
    assert limits == {"cpu": "8", "memory": "16Gi"}  # --gpu=0: no GPU limit
    assert not revision.node_selector.accelerator
    assert revision.gpu_zonal_redundancy_disabled is False
    assert env_of(revision) == {"CUTOUT_MODEL": "inspyrenet-fast", "CUTOUT_DEVICE": "cpu"}


def test_cpu_quota_20_vcpu_gives_two_8_vcpu_instances(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    cpu_image = "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout-cpu:0.1.0"
    config = make_config(regions=["us-central1"], cpu={"image": cpu_image})
    fake_gcp.quotas.set_limit(CPU_QUOTA, "us-central1", 20_000)
    plan = live_plan(gcp_clients, config)
    assert plan.chosen is not None and plan.chosen.max_instances == 2

    report = apply(gcp_clients, config, order(plan), options(smoke_image, to_standin))

    assert report.ok, report.lines()
    revision = fake_gcp.run.revisions[f"{SERVICE}/revisions/{report.attempts[-1].revision}"]
    assert revision.scaling.max_instance_count == 2
    assert revision.containers[0].image == cpu_image  # the CPU image target, not the GPU one


def test_quota_error_at_admission_tries_the_next_candidate(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 3)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    plan = live_plan(gcp_clients, deploy_config)
    assert plan.chosen is not None and plan.chosen.gpu_zonal_redundancy is True
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 0)  # the plan is stale by now

    report = apply(gcp_clients, deploy_config, order(plan), options(smoke_image, to_standin))

    assert [a.outcome for a in report.attempts] == ["quota", "served"]
    assert "You could deploy using GPUs without zonal redundancy instead." in (
        report.attempts[0].detail
    )
    assert report.attempts[1].candidate.gpu_zonal_redundancy is False
    assert f"{SERVICE}/revisions/{report.attempts[0].revision}" not in fake_gcp.run.revisions


def test_quota_failure_at_provisioning_tries_the_next_candidate(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 3)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    fake_gcp.run.fail_next_revision(INCIDENT)  # the original incident's error

    plan = live_plan(gcp_clients, deploy_config)
    report = apply(gcp_clients, deploy_config, order(plan), options(smoke_image, to_standin))

    assert [a.outcome for a in report.attempts] == ["quota", "served"]
    assert INCIDENT in report.attempts[0].detail
    failed = fake_gcp.run.revisions[f"{SERVICE}/revisions/{report.attempts[0].revision}"]
    assert failed.conditions[0].message == INCIDENT
    assert report.traffic[0].revision == report.attempts[1].revision


def test_failed_smoke_test_moves_no_traffic(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    # first deploy: a CPU revision on the model the stand-in really serves -> passes
    config = make_config(cpu={"model": "u2netp"})
    first = apply(
        gcp_clients,
        config,
        order(live_plan(gcp_clients, config)),
        ApplyOptions(image=smoke_image, url_for=to_standin, poll_s=0.01, ready_timeout_s=30),
    )
    assert first.ok, first.lines()
    old = first.attempts[-1].revision

    # then a GPU revision: the stand-in reports the CPU, so the smoke test must refuse it
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 3)
    second = apply(
        gcp_clients,
        config,
        order(live_plan(gcp_clients, config)),
        ApplyOptions(image=smoke_image, url_for=to_standin, poll_s=0.01, ready_timeout_s=30),
    )

    assert not second.ok
    attempt = second.attempts[-1]
    assert attempt.outcome == "smoke-failed"
    assert attempt.smoke is not None
    assert "device is 'cpu', planned 'cuda'" in attempt.smoke.reason
    service = fake_gcp.run.services[SERVICE]
    assert [(t.revision, t.percent, t.tag) for t in service.traffic] == [
        (old, 100, ""),
        (attempt.revision, 0, "candidate"),
    ]
    assert [(t.revision, t.percent) for t in second.traffic if t.percent] == [(old, 100)]


def test_gradual_moves_traffic_in_steps(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    first = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)
    old = first.attempts[-1].revision
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    second = apply_live(gcp_clients, deploy_config, smoke_image, to_standin, gradual=(10, 50))

    assert second.ok, second.lines()
    new = second.attempts[-1].revision
    splits = [
        {t["revision"]: t.get("percent", 0) for t in r.body["traffic"]}
        for r in fake_gcp.requests_to("PATCH", "/services/cutout")
        if r.body is not None
    ]
    assert splits[-3:] == [{new: 10, old: 90}, {new: 50, old: 50}, {new: 100}]
    assert "after steps 10%, 50%" in second.attempts[-1].detail


def test_a_revision_that_fails_to_start_stops_the_apply(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    first = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)
    old = first.attempts[-1].revision
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    fake_gcp.run.fail_next_revision("The user-provided container failed to start and listen.")

    second = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)

    # neither quota nor the startup probe: a container that does not start and listen
    # fails the same way on every candidate
    assert [a.outcome for a in second.attempts] == ["not-ready"]
    assert "failed to start" in second.attempts[0].detail
    assert [(t.revision, t.percent) for t in second.traffic if t.percent] == [(old, 100)]


PROBE_FAILED = "The user-provided container failed the configured startup probe checks."


def test_a_gpu_revision_that_fails_its_startup_probe_moves_to_the_next_candidate(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    """An L4 whose GPU the container cannot use: with CUTOUT_REQUIRE_GPU=1 its /ready stays
    503, Cloud Run fails the revision on its startup probe, and apply goes on (here to the
    same GPU without zonal redundancy, then to the CPU revision)."""
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 3)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    fake_gcp.run.fail_next_revision(PROBE_FAILED)
    fake_gcp.run.fail_next_revision(PROBE_FAILED)

    report = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)

    assert [a.outcome for a in report.attempts] == [
        "gpu-probe-failed",
        "gpu-probe-failed",
        "served",
    ], report.lines()
    first, second, served = report.attempts
    assert (first.candidate.kind, first.candidate.gpu_zonal_redundancy) == ("gpu", True)
    assert (second.candidate.kind, second.candidate.gpu_zonal_redundancy) == ("gpu", False)
    assert served.candidate.kind == "cpu"
    assert PROBE_FAILED in first.detail and "next candidate" in first.detail
    for attempt in (first, second):
        failed = fake_gcp.run.revisions[f"{SERVICE}/revisions/{attempt.revision}"]
        assert env_of(failed)["CUTOUT_REQUIRE_GPU"] == "1"
    revision = fake_gcp.run.revisions[f"{SERVICE}/revisions/{served.revision}"]
    assert "CUTOUT_REQUIRE_GPU" not in env_of(revision)
    assert [(t.revision, t.percent) for t in report.traffic if t.percent] == [
        (served.revision, 100)
    ]


def test_a_cpu_revision_that_fails_its_startup_probe_stops_the_apply(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    # no GPU quota: the CPU revisions are all there is, and they share one image
    fake_gcp.run.fail_next_revision(PROBE_FAILED)
    report = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)
    assert [a.outcome for a in report.attempts] == ["not-ready"]
    assert report.attempts[0].candidate.kind == "cpu"


def test_failed_recheck_after_promotion_restores_the_old_traffic(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    deploy_config: DeployConfig,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    from tests.server.live import free_port

    first = apply_live(gcp_clients, deploy_config, smoke_image, to_standin)
    old = first.attempts[-1].revision
    dead = f"http://127.0.0.1:{free_port()}"

    def tag_ok_service_dead(url: str) -> str:
        # the tagged revision answers; the service URL, once it routes 100 %, does not
        return to_standin(url) if url.startswith("https://candidate---") else dead

    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    second = apply_live(gcp_clients, deploy_config, smoke_image, tag_ok_service_dead)

    attempt = second.attempts[-1]
    assert attempt.outcome == "recheck-failed"
    assert "re-check at 100% failed at /health" in attempt.detail
    assert "previous traffic restored" in attempt.detail
    assert [(t.revision, t.percent) for t in second.traffic if t.percent] == [(old, 100)]
    history = fake_gcp.run.services[SERVICE].annotations["cutout.dev/served-revisions"]
    assert history == old  # the revision that failed its re-check is no rollback target


def test_first_region_without_l4_deploys_to_the_next_region(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    config = make_config(regions=["us-east1", "europe-west4"])
    fake_gcp.quotas.set_limit(GPU_ZR, "us-east1", 5)  # quota there means nothing: no L4
    fake_gcp.quotas.set_limit(GPU_ZR, "europe-west4", 3)

    report = apply_live(gcp_clients, config, smoke_image, to_standin)

    assert report.ok, report.lines()
    assert [a.candidate.region for a in report.attempts] == ["europe-west4"]
    assert report.service == "projects/petshop-prod/locations/europe-west4/services/cutout"
    assert not fake_gcp.requests_to("POST", "/locations/us-east1/")


def test_apply_waits_for_a_slow_rollout(
    deploy_config: DeployConfig, smoke_image: bytes, to_standin: Callable[[str], str]
) -> None:
    # every rollout needs 6 reads of the API before it settles: apply must keep polling
    # and never smoke-test or route a revision that is still reconciling
    with FakeGcp("petshop-prod", settle_after=6) as slow:
        slow.quotas.set_limit(CPU_QUOTA, "us-central1", 200_000)
        slow.quotas.set_limit("MemAllocPerProjectRegion", "us-central1", 400 * 2**30)
        clients = GcpClients.create(endpoint=slow.endpoint)
        report = apply_live(clients, deploy_config, smoke_image, to_standin)
        assert report.ok, report.lines()
        assert slow.errors == []
        polls = slow.requests_to("GET", "/operations/")
        assert len(polls) >= 2


def test_the_incident_replayed_ships_gpu_without_zonal_redundancy_in_europe(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    # tests/deploy/snapshots/incident: cutout-batch holds the 3 zonal L4s of us-central1,
    # no non-zonal L4 there, 2 non-zonal L4s in europe-west4
    snapshot_dir = Path(__file__).parent / "snapshots" / "incident"
    fake_gcp.quotas.limits.clear()
    fake_gcp.seed_from_snapshot(snapshot_dir)
    config = make_config(daily_budget_usd=150.0)
    before = fake_gcp.run.services[SERVICE].traffic_statuses[0].percent

    live = read_live(gcp_clients, config)
    offline = load_snapshot(snapshot_dir, config.regions, config.service)
    assert live == offline  # the live path and the snapshot path read the same inputs
    plan = make_plan(config, live.limits, live.usage)
    report = apply(gcp_clients, config, order(plan), options(smoke_image, to_standin))

    assert report.ok, report.lines()
    chosen = report.attempts[-1].candidate
    assert (chosen.region, chosen.gpu_zonal_redundancy, chosen.max_instances) == (
        "europe-west4",
        False,
        2,
    )
    assert report.service == "projects/petshop-prod/locations/europe-west4/services/cutout"
    # us-central1 was not touched: no request there, its old revision still serves
    assert not [r for r in fake_gcp.requests if r.method != "GET" and "us-central1" in r.path]
    assert fake_gcp.run.services[SERVICE].traffic_statuses[0].percent == before == 100
