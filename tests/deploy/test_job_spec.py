"""The Run v2 Job for a plan's candidate, what changed between two, and RunJob overrides."""

from __future__ import annotations

from typing import Any

from google.cloud import run_v2

from cutout.deploy.job_plan import JobCandidate, make_job_plan
from cutout.deploy.job_spec import (
    build_job,
    describe_job_request,
    destination_of,
    job_changes,
    kind_of,
    merge_job,
    run_request,
)
from tests.deploy.jobs import job_configs
from tests.deploy.planning import limits

RESERVED = {"CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT", "CLOUD_RUN_TASK_ATTEMPT"}


def _choice(kind: str, **job: Any) -> tuple[Any, JobCandidate]:
    config, job_config = job_configs({"args": ["--format", "webp"], **job})
    quota = limits("us-central1", no_zonal=3 if kind == "gpu" else 0)
    plan = make_job_plan(config, job_config, {"us-central1": quota}, {}, 10_000)
    assert plan.chosen is not None and plan.chosen.kind == kind
    return job_config, plan.chosen


def test_a_gpu_job_has_one_l4_without_zonal_redundancy_and_runs_cutout_batch() -> None:
    job, choice = _choice("gpu", service_account="batch@petshop-prod.iam.gserviceaccount.com")
    built = build_job(job, choice)
    execution = built.template
    task = execution.template
    (container,) = task.containers
    assert dict(container.resources.limits) == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert task.node_selector.accelerator == "nvidia-l4"
    assert task.gpu_zonal_redundancy_disabled is True
    assert list(container.command) == ["cutout"]
    assert list(container.args) == [
        "batch",
        "gs://shop-catalogue/originals/",
        "gs://shop-catalogue/cutouts/",
        "--format",
        "webp",
    ]
    env = {e.name: e.value for e in container.env}
    assert env == {"CUTOUT_MODEL": "inspyrenet-base", "CUTOUT_DEVICE": "cuda"}
    assert not RESERVED & set(env)
    assert (execution.task_count, execution.parallelism) == (
        choice.sizing.task_count,
        choice.sizing.parallelism,
    )
    assert task.max_retries == 3 and task.timeout.total_seconds() == 3600
    assert task.service_account == "batch@petshop-prod.iam.gserviceaccount.com"
    assert dict(built.labels) == {"cutout-kind": "gpu", "cutout-model": "inspyrenet-base"}
    assert kind_of(built) == "gpu"
    assert destination_of(list(container.args)) == "gs://shop-catalogue/cutouts/"


def test_a_cpu_job_has_no_gpu_setting_at_all() -> None:
    job, choice = _choice("cpu")
    built = build_job(job, choice)
    task = built.template.template
    assert dict(task.containers[0].resources.limits) == {"cpu": "8", "memory": "16Gi"}
    assert not task.node_selector.accelerator
    assert "gpu_zonal_redundancy_disabled" not in task
    assert {e.name: e.value for e in task.containers[0].env}["CUTOUT_DEVICE"] == "cpu"
    assert kind_of(built) == "cpu"


def test_changes_name_each_field_apply_sets_and_merge_keeps_foreign_labels() -> None:
    job, gpu = _choice("gpu")
    _, cpu = _choice("cpu")
    before = build_job(job, gpu)
    assert job_changes(before, build_job(job, gpu)) == []
    changes = job_changes(before, build_job(job, cpu))
    fields = [c.split(":", 1)[0] for c in changes]
    assert {"image", "cpu", "gpu", "accelerator", "parallelism", "env"} <= set(fields)
    assert "memory" not in fields  # 16Gi both
    assert "gpu: 1 -> 0" in changes
    existing = run_v2.Job(before, name="projects/p/locations/r/jobs/j", etag='"abc"')
    existing.labels["team"] = "catalogue"
    merged = merge_job(existing, build_job(job, cpu))
    assert (merged.name, merged.etag) == (existing.name, '"abc"')
    assert merged.labels["team"] == "catalogue" and merged.labels["cutout-kind"] == "cpu"
    request = describe_job_request("p", "r", "j", merged, existing)
    assert (request["method"], request["path"]) == ("PATCH", "/v2/projects/p/locations/r/jobs/j")
    assert request["body"]["etag"] == '"abc"'
    create = describe_job_request("p", "r", "j", before, None)
    assert (create["path"], create["query"]) == ("/v2/projects/p/locations/r/jobs", {"jobId": "j"})


def test_run_overrides() -> None:
    request = run_request(
        "projects/p/locations/r/jobs/j",
        task_count=12,
        args=["batch", "gs://b/in/", "gs://b/out/"],
        timeout_s=1800,
    )
    overrides = request.overrides
    assert overrides.task_count == 12 and overrides.timeout.total_seconds() == 1800
    (container,) = overrides.container_overrides
    assert container.name == "cutout" and list(container.args)[1:] == ["gs://b/in/", "gs://b/out/"]
    plain = run_request("projects/p/locations/r/jobs/j")
    assert not plain.overrides.task_count and not plain.overrides.container_overrides
