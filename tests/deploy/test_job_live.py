"""The job's live half against the fake Run v2 API (google-cloud-run's own clients):
apply creates, updates (with the etag) or leaves alone; run sends overrides and follows
the execution; status reads executions and tasks with scripted failures and retries."""

from __future__ import annotations

from typing import Any

import pytest

from cutout.deploy.config import DeployConfig
from cutout.deploy.errors import QuotaExceededError
from cutout.deploy.gcp import GcpClients
from cutout.deploy.job_config import JobConfig
from cutout.deploy.job_live import (
    Progress,
    apply_job,
    get_job,
    read_job_inputs,
    require_job,
    start_execution,
    wait_execution,
)
from cutout.deploy.job_plan import JobPlan, make_job_plan
from cutout.deploy.job_spec import batch_args, job_path, run_request
from cutout.deploy.job_status import read_job_status
from cutout.errors import DeployError
from tests.deploy.jobs import job_configs
from tests.fakes.fixtures import GPU_NO_ZR, PROJECT, fake_gcp, gcp_clients
from tests.fakes.gcp import FakeGcp
from tests.fakes.run_executions import ExecutionScript, TaskAttempt

__all__ = ["fake_gcp", "gcp_clients"]

CENTRAL = job_path(PROJECT, "us-central1", "catalogue")
EUROPE = job_path(PROJECT, "europe-west4", "catalogue")


def _plan(clients: GcpClients, items: int = 10_000, **job: Any) -> tuple[Any, Any, JobPlan]:
    config, job_config = job_configs(job)
    snapshot = read_job_inputs(clients, PROJECT, job_config.regions)
    return (
        config,
        job_config,
        make_job_plan(config, job_config, snapshot.limits, snapshot.usage, items),
    )


def _apply(clients: GcpClients, items: int = 10_000, **job: Any) -> tuple[DeployConfig, JobConfig]:
    config, job_config, plan = _plan(clients, items, **job)
    assert plan.chosen is not None
    apply_job(clients, config, job_config, plan.chosen, timeout_s=10)
    return config, job_config


def _writes(fake: FakeGcp) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method in ("POST", "PATCH", "DELETE")]


def test_apply_creates_then_leaves_alone_then_updates_with_the_etag(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    config, job, plan = _plan(gcp_clients)
    assert plan.chosen is not None and plan.chosen.kind == "gpu"

    created = apply_job(gcp_clients, config, job, plan.chosen, timeout_s=10)

    assert (created.action, created.name, created.elsewhere) == ("created", CENTRAL, ())
    assert {"gpu: 1", "accelerator: nvidia-l4", "max_retries: 3"} <= set(created.changes)
    (post,) = fake_gcp.requests_to("POST", "/jobs")
    assert post.query["jobId"] == "catalogue"
    stored = fake_gcp.run.jobs[CENTRAL]  # it passed the fake's GPU job rules
    assert stored.template.template.gpu_zonal_redundancy_disabled
    assert stored.template.task_count == plan.chosen.sizing.task_count

    writes = len(_writes(fake_gcp))
    again = apply_job(gcp_clients, config, job, plan.chosen, timeout_s=10)
    assert (again.action, again.changes) == ("unchanged", ())
    assert len(_writes(fake_gcp)) == writes

    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 0)  # the L4s went elsewhere
    _, _, cpu_plan = _plan(gcp_clients)
    assert cpu_plan.chosen is not None and cpu_plan.chosen.kind == "cpu"
    etag = get_job(gcp_clients, CENTRAL).etag
    updated = apply_job(gcp_clients, config, job, cpu_plan.chosen, timeout_s=10)
    assert updated.action == "updated"
    assert {"gpu: 1 -> 0", "accelerator: nvidia-l4 -> -"} <= set(updated.changes)
    (patch,) = fake_gcp.requests_to("PATCH", "/jobs/catalogue")
    assert patch.body is not None and patch.body["etag"] == etag
    after = get_job(gcp_clients, CENTRAL)
    assert after.generation == 2 and not after.template.template.node_selector.accelerator
    assert dict(after.labels)["cutout-kind"] == "cpu"


def test_a_job_planned_into_another_region_says_where_the_old_one_is(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    _apply(gcp_clients)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 0)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "europe-west4", 3)
    config, job, plan = _plan(gcp_clients)
    assert plan.chosen is not None
    report = apply_job(gcp_clients, config, job, plan.chosen, timeout_s=10)
    assert (report.action, report.name, report.elsewhere) == ("created", EUROPE, ("us-central1",))
    assert "also exists in us-central1" in "\n".join(report.lines())
    assert require_job(gcp_clients, PROJECT, job, None).name == CENTRAL  # config order
    assert require_job(gcp_clients, PROJECT, job, "europe-west4").name == EUROPE


def test_run_sends_overrides_and_waits_with_progress(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    _, job = _apply(gcp_clients, items=40_000)  # a CPU job: no L4 quota here
    attempts: list[TaskAttempt] = []

    def runner(attempt: TaskAttempt) -> int:
        attempts.append(attempt)
        return 0

    fake_gcp.run.script_next_execution(ExecutionScript(runner=runner, attempt_ticks=2))
    request = run_request(
        CENTRAL,
        task_count=3,
        args=batch_args("gs://shop-catalogue/shoes/", "gs://shop-catalogue/shoes-out/", job.args),
        timeout_s=900,
    )
    started = start_execution(gcp_clients, request)
    assert started.name.startswith(f"{CENTRAL}/executions/catalogue-")
    seen: list[Progress] = []

    final = wait_execution(
        gcp_clients, started.name, timeout_s=30, poll_s=0, on_progress=seen.append
    )

    assert (final.task_count, final.succeeded_count, final.failed_count) == (3, 3, 0)
    assert seen[-1].succeeded == 3 and any(p.running for p in seen)
    assert sorted(a.env["CLOUD_RUN_TASK_INDEX"] for a in attempts) == ["0", "1", "2"]
    assert {a.env["CLOUD_RUN_TASK_COUNT"] for a in attempts} == {"3"}
    assert attempts[0].args[1:3] == ["gs://shop-catalogue/shoes/", "gs://shop-catalogue/shoes-out/"]
    assert attempts[0].env["CUTOUT_DEVICE"] == "cpu"
    assert final.template.timeout.total_seconds() == 900
    assert get_job(gcp_clients, CENTRAL).template.task_count != 3  # the job is unchanged


def test_status_shows_failures_retries_and_a_failed_execution(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    _, job = _apply(gcp_clients, items=40_000, max_retries=3)
    fake_gcp.run.script_next_execution(ExecutionScript(failures={1: [1, 1], 2: [1, 1, 137, 1]}))
    started = start_execution(gcp_clients, run_request(CENTRAL, task_count=4))
    wait_execution(gcp_clients, started.name, timeout_s=30, poll_s=0)

    status = read_job_status(gcp_clients, require_job(gcp_clients, PROJECT, job, None))

    assert status.shown is not None and not status.ok
    shown = status.shown
    assert (shown.state, shown.succeeded, shown.failed, shown.retried) == ("failed", 3, 1, 5)
    assert "task2 failed with message: The container exited with an error." in shown.message
    assert shown.destination == "gs://shop-catalogue/cutouts/"
    tasks = {t.index: t for t in status.tasks}
    assert (tasks[0].state, tasks[0].retried, tasks[0].exit_code) == ("succeeded", 0, 0)
    assert (tasks[1].state, tasks[1].retried, tasks[1].exit_code) == ("succeeded", 2, 0)
    assert (tasks[2].state, tasks[2].retried, tasks[2].max_retries) == ("failed", 3, 3)
    assert tasks[2].exit_code == 1 and tasks[2].message == "The container exited with an error."
    text = "\n".join(status.lines())
    assert "failed, retried or not done" in text and "2 more succeeded" in text
    task_lines = [line.split() for line in status.lines() if line.startswith("      ")]
    assert ["1", "succeeded", "2/3", "0"] in task_lines
    assert ["2", "failed", "3/3", "1", "The", "container", "exited", "with", "an", "error."] in (
        task_lines
    )


def test_status_of_a_running_and_a_cancelled_execution(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    _, job = _apply(gcp_clients, items=40_000)
    fake_gcp.run.script_next_execution(ExecutionScript(attempt_ticks=100))
    started = start_execution(gcp_clients, run_request(CENTRAL, task_count=2))
    existing = require_job(gcp_clients, PROJECT, job, None)
    running = read_job_status(gcp_clients, existing)
    assert running.shown is not None and running.shown.state == "running" and running.ok
    assert {t.state for t in running.tasks} <= {"running", "pending"}
    gcp_clients.executions.cancel_execution(name=started.name)
    cancelled = read_job_status(gcp_clients, existing, execution=started.name.rsplit("/", 1)[-1])
    assert cancelled.shown is not None and cancelled.shown.state == "cancelled"
    assert not cancelled.ok and {t.state for t in cancelled.tasks} == {"cancelled"}


def test_no_job_no_executions(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    _, job = job_configs()
    with pytest.raises(DeployError, match="create it with `cutout deploy job apply`"):
        require_job(gcp_clients, PROJECT, job, None)
    _, job = _apply(gcp_clients, items=100)
    status = read_job_status(gcp_clients, require_job(gcp_clients, PROJECT, job, None))
    assert status.executions == () and status.ok
    assert "no executions yet" in status.lines()[-1]


def test_run_refused_for_quota_is_a_quota_error(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    _apply(gcp_clients)  # a GPU job at 3 parallel tasks
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 1)  # the quota shrank since
    with pytest.raises(QuotaExceededError) as caught:
        start_execution(gcp_clients, run_request(CENTRAL))
    assert caught.value.violation.quota_id == GPU_NO_ZR
    assert "Parallelism must be set to 1 or fewer" in caught.value.message
