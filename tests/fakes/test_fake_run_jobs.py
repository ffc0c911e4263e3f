"""The fake Run Admin API v2 serves Jobs, Executions and Tasks the way the real one does
where bulk runs depend on it, driven by google-cloud-run's own clients: long-running
operations, validation, overrides, scripted task failures and retries, admission."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.api_core.future.polling import DEFAULT_POLLING
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import duration_pb2

from cutout.deploy.errors import QuotaExceededError, translate
from tests.fakes.fixtures import GPU_NO_ZR, PROJECT, fake_gcp
from tests.fakes.gcp import FakeGcp
from tests.fakes.run_executions import ExecutionScript, TaskAttempt

__all__ = ["fake_gcp"]

PARENT = f"projects/{PROJECT}/locations/us-central1"
JOB = f"{PARENT}/jobs/catalogue"
CompletionStatus = run_v2.ExecutionReference.CompletionStatus
State = run_v2.Condition.State


@dataclass
class Clients:
    jobs: Any
    executions: Any
    tasks: Any
    services: Any


def clients_for(fake: FakeGcp) -> Clients:
    options = {
        "transport": "rest",
        "credentials": AnonymousCredentials(),
        "client_options": {"api_endpoint": fake.endpoint},
    }
    return Clients(
        run_v2.JobsClient(**options),
        run_v2.ExecutionsClient(**options),
        run_v2.TasksClient(**options),
        run_v2.ServicesClient(**options),
    )


@pytest.fixture
def clients(fake_gcp: FakeGcp) -> Clients:
    return clients_for(fake_gcp)


def wait(operation: Any) -> Any:
    polling = DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05).with_timeout(10)
    return operation.result(timeout=10, polling=polling)


def cpu_job(task_count: int = 4, parallelism: int = 2, **task: Any) -> run_v2.Job:
    return run_v2.Job(
        template=run_v2.ExecutionTemplate(
            task_count=task_count,
            parallelism=parallelism,
            template=run_v2.TaskTemplate(
                containers=[
                    run_v2.Container(
                        name="cutout",
                        image="example.com/cutout:0.1.0",
                        args=["batch", "gs://in", "gs://out"],
                        env=[run_v2.EnvVar(name="CUTOUT_MODEL", value="u2netp")],
                        resources=run_v2.ResourceRequirements(limits={"cpu": "2", "memory": "4Gi"}),
                    )
                ],
                **task,
            ),
        )
    )


def gpu_job(parallelism: int = 1, *, zonal_off: bool = True, **limits: str) -> run_v2.Job:
    job = cpu_job(task_count=4, parallelism=parallelism)
    job.template.template.containers[0].resources.limits = {
        "cpu": "4",
        "memory": "16Gi",
        "nvidia.com/gpu": "1",
        **limits,
    }
    job.template.template.node_selector = run_v2.NodeSelector(accelerator="nvidia-l4")
    job.template.template.gpu_zonal_redundancy_disabled = zonal_off
    return job


def create(clients: Clients, job: run_v2.Job, job_id: str = "catalogue") -> Any:
    return wait(clients.jobs.create_job(parent=PARENT, job=job, job_id=job_id))


def test_a_job_is_created_by_a_long_running_operation_with_the_apis_defaults() -> None:
    with FakeGcp(PROJECT, settle_after=3) as slow:
        clients = clients_for(slow)
        operation = clients.jobs.create_job(
            parent=PARENT, job=cpu_job(task_count=0), job_id="catalogue"
        )
        assert operation.operation.name.startswith(f"{PARENT}/operations/")
        assert clients.jobs.get_job(name=JOB).reconciling is True
        job = wait(operation)
        assert job.name == JOB and job.generation == 1 and not job.reconciling
        assert job.terminal_condition.state == State.CONDITION_SUCCEEDED
        assert job.template.task_count == 1
        assert job.template.template.max_retries == 3
        assert job.template.template.timeout.seconds == 600
        with pytest.raises(gexc.Conflict, match="already exists"):
            clients.jobs.create_job(parent=PARENT, job=cpu_job(), job_id="catalogue")


def test_missing_resources_have_googles_not_found_text(clients: Clients) -> None:
    with pytest.raises(gexc.NotFound) as caught:
        clients.jobs.get_job(name=f"{PARENT}/jobs/nope")
    assert (
        "Resource 'nope' of kind 'JOB' in region 'us-central1' in project "
        f"'{PROJECT}' does not exist." in caught.value.message
    )
    with pytest.raises(gexc.NotFound, match="of kind 'EXECUTION'"):
        clients.executions.get_execution(name=f"{JOB}/executions/catalogue-abcde")


@pytest.mark.parametrize(
    ("job", "region", "says"),
    [
        (gpu_job(zonal_off=False), "us-central1", "gpu_zonal_redundancy_disabled"),
        (gpu_job(**{"nvidia.com/gpu": "2"}), "us-central1", "Exactly 1 GPU"),
        (gpu_job(cpu="2"), "us-central1", "at least 4 CPU and 16Gi"),
        (gpu_job(), "us-east1", "not supported in region us-east1"),
        (cpu_job(task_count=10_001), "us-central1", "between 1 and 10000"),
        (cpu_job(max_retries=11), "us-central1", "between 0 and 10"),
        (cpu_job(timeout=duration_pb2.Duration(seconds=169 * 3600)), "us-central1", "at most"),
    ],
)
def test_the_apis_job_rules(clients: Clients, job: run_v2.Job, region: str, says: str) -> None:
    with pytest.raises(gexc.BadRequest, match=says):
        clients.jobs.create_job(
            parent=f"projects/{PROJECT}/locations/{region}", job=job, job_id="catalogue"
        )


def test_a_gpu_task_runs_at_most_an_hour(clients: Clients) -> None:
    job = gpu_job()
    job.template.template.timeout = duration_pb2.Duration(seconds=3600)
    create(clients, job)
    with pytest.raises(gexc.BadRequest, match="A task that uses a GPU can run at most 3600"):
        clients.jobs.run_job(
            request={
                "name": JOB,
                "overrides": {"timeout": duration_pb2.Duration(seconds=3601)},
            }
        )


def test_cloud_runs_task_variables_are_reserved(clients: Clients) -> None:
    job = cpu_job()
    job.template.template.containers[0].env.append(
        run_v2.EnvVar(name="CLOUD_RUN_TASK_INDEX", value="0")
    )
    with pytest.raises(
        gexc.BadRequest,
        match=re.escape(
            "The following reserved env names were provided: CLOUD_RUN_TASK_INDEX. These "
            "values are automatically set by the system."
        ),
    ):
        create(clients, job)


def test_an_execution_runs_its_tasks_and_the_operation_returns_it(
    fake_gcp: FakeGcp, clients: Clients
) -> None:
    create(clients, cpu_job(task_count=4, parallelism=2))
    operation = clients.jobs.run_job(name=JOB)
    first = operation.metadata
    assert first.name.startswith(f"{JOB}/executions/catalogue-")
    assert (first.task_count, first.parallelism, first.job) == (4, 2, "catalogue")
    execution = wait(operation)
    assert (execution.succeeded_count, execution.failed_count, execution.retried_count) == (4, 0, 0)
    assert execution.running_count == 0 and not execution.reconciling
    assert execution.completion_time and execution.start_time
    completed = next(c for c in execution.conditions if c.type_ == "Completed")
    assert completed.state == State.CONDITION_SUCCEEDED

    job = clients.jobs.get_job(name=JOB)
    assert job.execution_count == 1
    assert job.latest_created_execution.name == execution.name
    assert job.latest_created_execution.completion_status == CompletionStatus.EXECUTION_SUCCEEDED

    tasks = list(clients.tasks.list_tasks(parent=execution.name))
    short = execution.name.rsplit("/", 1)[-1]
    assert [t.name.rsplit("/", 1)[-1] for t in tasks] == [f"{short}-task{i}" for i in range(4)]
    assert all(t.last_attempt_result.exit_code == 0 and t.retried == 0 for t in tasks)
    assert clients.tasks.get_task(name=tasks[2].name).index == 2


def test_parallelism_bounds_the_running_tasks_step_by_step(
    fake_gcp: FakeGcp, clients: Clients
) -> None:
    create(clients, cpu_job(task_count=3, parallelism=1))
    fake_gcp.run.script_next_execution(ExecutionScript(attempt_ticks=2))
    name = clients.jobs.run_job(name=JOB).metadata.name
    seen = []
    for _ in range(20):
        execution = clients.executions.get_execution(name=name)
        seen.append((execution.running_count, execution.succeeded_count))
        if execution.completion_time:
            break
    assert max(running for running, _ in seen) == 1
    assert seen[-1] == (0, 3)
    # each read is one step: start, then two reads per attempt, one task at a time
    assert [done for _, done in seen] == [0, 0, 1, 1, 2, 2, 3]


def test_scripted_failures_are_retried_then_fail_the_execution(
    fake_gcp: FakeGcp, clients: Clients
) -> None:
    create(clients, cpu_job(task_count=4, parallelism=4, max_retries=3))
    fake_gcp.run.script_next_execution(ExecutionScript(failures={1: [1, 1], 2: [1, 2, 137, 1]}))
    operation = clients.jobs.run_job(name=JOB)
    with pytest.raises(gexc.GoogleAPICallError) as caught:
        wait(operation)
    short = operation.metadata.name.rsplit("/", 1)[-1]
    message = f"Task {short}-task2 failed with message: The container exited with an error."
    assert message in str(caught.value)

    execution = clients.executions.get_execution(name=operation.metadata.name)
    assert (execution.succeeded_count, execution.failed_count) == (3, 1)
    assert execution.retried_count == 2 + 3
    completed = next(c for c in execution.conditions if c.type_ == "Completed")
    assert completed.state == State.CONDITION_FAILED
    assert completed.execution_reason == run_v2.Condition.ExecutionReason.NON_ZERO_EXIT_CODE
    assert completed.message == message
    tasks = {t.index: t for t in clients.tasks.list_tasks(parent=execution.name)}
    assert (tasks[1].retried, tasks[1].last_attempt_result.exit_code) == (2, 0)
    assert (tasks[2].retried, tasks[2].last_attempt_result.exit_code) == (3, 1)
    assert tasks[2].max_retries == 3
    job = clients.jobs.get_job(name=JOB)
    assert job.latest_created_execution.completion_status == CompletionStatus.EXECUTION_FAILED


def test_overrides_reach_the_tasks_and_a_runner_sees_the_task_variables(
    fake_gcp: FakeGcp, clients: Clients
) -> None:
    create(clients, cpu_job(task_count=1, parallelism=0))
    attempts: list[TaskAttempt] = []

    def runner(attempt: TaskAttempt) -> int:
        attempts.append(attempt)
        return 1 if (attempt.index, attempt.attempt) == (0, 0) else 0

    fake_gcp.run.script_next_execution(ExecutionScript(runner=runner), job=JOB)
    operation = clients.jobs.run_job(
        request={
            "name": JOB,
            "overrides": {
                "task_count": 3,
                "timeout": duration_pb2.Duration(seconds=120),
                "container_overrides": [
                    {
                        "name": "cutout",
                        "args": ["batch", "gs://in/shoes", "gs://out/shoes"],
                        "env": [
                            {"name": "CUTOUT_MODEL", "value": "inspyrenet-base"},
                            {"name": "CUTOUT_DEVICE", "value": "cuda"},
                        ],
                    }
                ],
            },
        }
    )
    execution = wait(operation)
    assert execution.task_count == 3 and execution.parallelism == 0
    assert execution.template.timeout.seconds == 120
    container = execution.template.containers[0]
    assert list(container.args) == ["batch", "gs://in/shoes", "gs://out/shoes"]
    assert {e.name: e.value for e in container.env} == {
        "CUTOUT_MODEL": "inspyrenet-base",
        "CUTOUT_DEVICE": "cuda",
    }
    assert sorted((a.index, a.attempt) for a in attempts) == [(0, 0), (0, 1), (1, 0), (2, 0)]
    retry = next(a for a in attempts if a.attempt == 1)
    assert retry.env["CLOUD_RUN_TASK_INDEX"] == "0"
    assert retry.env["CLOUD_RUN_TASK_COUNT"] == "3"
    assert retry.env["CLOUD_RUN_TASK_ATTEMPT"] == "1"
    assert retry.env["CLOUD_RUN_EXECUTION"] == execution.name.rsplit("/", 1)[-1]
    assert retry.env["CLOUD_RUN_JOB"] == "catalogue"
    assert retry.env["CUTOUT_MODEL"] == "inspyrenet-base"
    assert retry.args == ["batch", "gs://in/shoes", "gs://out/shoes"]
    assert execution.retried_count == 1
    # the job itself is unchanged
    assert clients.jobs.get_job(name=JOB).template.task_count == 1

    with pytest.raises(gexc.BadRequest, match="reserved env names"):
        clients.jobs.run_job(
            request={
                "name": JOB,
                "overrides": {
                    "container_overrides": [{"env": [{"name": "CLOUD_RUN_JOB", "value": "x"}]}]
                },
            }
        )


def test_admission_counts_running_executions_next_to_services(
    fake_gcp: FakeGcp, clients: Clients
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    service = run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[gpu_job().template.template.containers[0]],
            node_selector=run_v2.NodeSelector(accelerator="nvidia-l4"),
            gpu_zonal_redundancy_disabled=True,
            scaling=run_v2.RevisionScaling(max_instance_count=2),
        )
    )
    wait(clients.services.create_service(parent=PARENT, service=service, service_id="cutout"))
    create(clients, gpu_job(parallelism=2))

    with pytest.raises(gexc.BadRequest) as caught:
        clients.jobs.run_job(name=JOB)
    assert (
        "template.parallelism: Parallelism must be set to 1 or fewer to set the requested "
        "total GPU." in caught.value.message
    )
    refused = translate(caught.value, "run job")
    assert isinstance(refused, QuotaExceededError)
    assert (refused.violation.quota_id, refused.violation.requested) == (GPU_NO_ZR, 2)
    assert refused.violation.allowed == 1

    fake_gcp.run.script_next_execution(ExecutionScript(attempt_ticks=50))
    running = clients.jobs.run_job(
        request={"name": JOB, "overrides": {"task_count": 1}}
    ).metadata.name
    # while it runs, its GPU counts against the services too
    service = clients.services.get_service(name=f"{PARENT}/services/cutout")
    service.template.scaling.max_instance_count = 3
    with pytest.raises(gexc.BadRequest, match="Quota violated"):
        clients.services.update_service(service=service)
    wait(clients.executions.cancel_execution(name=running))
    wait(clients.services.update_service(service=service))


def test_cancel_stops_what_has_not_finished(fake_gcp: FakeGcp, clients: Clients) -> None:
    create(clients, cpu_job(task_count=4, parallelism=2))
    fake_gcp.run.script_next_execution(ExecutionScript(attempt_ticks=100))
    operation = clients.jobs.run_job(name=JOB)
    name = operation.metadata.name
    clients.executions.get_execution(name=name)  # started
    cancelled = wait(clients.executions.cancel_execution(name=name))
    assert cancelled.cancelled_count == 4 and cancelled.running_count == 0
    completed = next(c for c in cancelled.conditions if c.type_ == "Completed")
    assert completed.execution_reason == run_v2.Condition.ExecutionReason.CANCELLED
    job = clients.jobs.get_job(name=JOB)
    assert job.latest_created_execution.completion_status == CompletionStatus.EXECUTION_CANCELLED
    with pytest.raises(gexc.Cancelled):
        wait(operation)
    with pytest.raises(gexc.BadRequest, match="has already completed"):
        clients.executions.cancel_execution(name=name)


def test_deleting_removes_executions_and_tasks(fake_gcp: FakeGcp, clients: Clients) -> None:
    create(clients, cpu_job(task_count=2))
    first = wait(clients.jobs.run_job(name=JOB))
    second = wait(clients.jobs.run_job(name=JOB))
    listed = list(clients.executions.list_executions(request={"parent": JOB, "page_size": 1}))
    assert [e.name for e in listed] == [second.name, first.name]  # newest first, two pages
    wait(clients.executions.delete_execution(name=first.name))
    assert [e.name for e in clients.executions.list_executions(parent=JOB)] == [second.name]
    assert not [t for t in fake_gcp.run.tasks if t.startswith(first.name)]
    wait(clients.jobs.delete_job(name=JOB))
    assert fake_gcp.run.jobs == {} and fake_gcp.run.executions == {} and fake_gcp.run.tasks == {}


def test_update_replaces_the_template_and_checks_the_etag(clients: Clients) -> None:
    job = create(clients, cpu_job())
    stale = clients.jobs.get_job(name=JOB)
    job.template.template.containers[0].image = "example.com/cutout:0.2.0"
    updated = wait(clients.jobs.update_job(job=job))
    assert updated.generation == 2
    assert updated.template.template.containers[0].image == "example.com/cutout:0.2.0"
    stale.template.task_count = 9
    with pytest.raises(gexc.Conflict):
        clients.jobs.update_job(job=stale)
    fresh = cpu_job()
    fresh.name = f"{PARENT}/jobs/other"
    made = wait(clients.jobs.update_job(request={"job": fresh, "allow_missing": True}))
    assert made.name == f"{PARENT}/jobs/other" and made.generation == 1
    assert [j.name for j in clients.jobs.list_jobs(parent=PARENT)] == [JOB, made.name]
