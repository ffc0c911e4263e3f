"""``cutout deploy job plan|apply|run|status`` through the real CLI entry point: plans
from the example snapshots, and live against the fake Run v2 API (``--endpoint``) and the
Cloud Storage fake, where a stand-in for ``cutout batch`` runs each task attempt on the
fake's schedule and writes the shard reports that ``status`` reads back."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cutout.batch.gcs import GcsStore
from cutout.batch.locations import GcsLocation, parse_location
from cutout.batch.report import ReportLine, ShardReport
from cutout.batch.shard import shard_from_task
from cutout.cli.main import main
from tests.conftest import REPO
from tests.deploy.jobs import job_toml
from tests.fakes.fixtures import GPU_NO_ZR, PROJECT, fake_gcp
from tests.fakes.gcp import FakeGcp
from tests.fakes.run_executions import ExecutionScript, TaskAttempt
from tests.fakes.storage_fixtures import BUCKET, fake_storage, fast_retry, storage_client

__all__ = ["fake_gcp", "fake_storage", "storage_client"]

CONFIG = str(REPO / "docs" / "cutout-deploy.toml")
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
JOB = f"projects/{PROJECT}/locations/us-central1/jobs/catalogue"


def _plan(capsys: pytest.CaptureFixture[str], snapshot: str, *more: str) -> tuple[int, Any, str]:
    code = main(
        ["deploy", "job", "plan", "--config", CONFIG, "--from-snapshot",
         str(SNAPSHOTS / snapshot), "--items", "120000", *more]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "json" in more else out), err


@pytest.mark.parametrize(
    ("snapshot", "kind", "step", "region", "parallelism"),
    [
        ("zonal-none", "gpu", "gpu-no-zonal", "us-central1", 3),
        ("job-shared-l4", "gpu", "gpu-fewer", "us-central1", 2),
        ("incident", "gpu", "gpu-fewer", "europe-west4", 2),
        ("no-gpu-quota", "cpu", "cpu", "us-central1", 2),
    ],
)
def test_plan_json_from_snapshots(
    capsys: pytest.CaptureFixture[str],
    snapshot: str,
    kind: str,
    step: str,
    region: str,
    parallelism: int,
) -> None:
    code, document, _ = _plan(capsys, snapshot, "--format", "json")
    assert code == 0
    chosen = document["chosen"]
    assert (chosen["kind"], chosen["step"], chosen["region"]) == (kind, step, region)
    assert chosen["parallelism"] == parallelism and document["items"] == 120_000
    assert chosen["expected_task_s"] <= 0.6 * chosen["task_timeout_s"]
    assert chosen["task_count"] * chosen["items_per_task"] >= 120_000
    if kind == "gpu":
        assert (chosen["gpu_type"], chosen["gpu_zonal_redundancy"]) == ("nvidia-l4", False)
        assert (chosen["cpu"], chosen["memory"], chosen["task_timeout_s"]) == ("4", "16Gi", 3600)
        assert chosen["cost_per_task_hour_usd"] == pytest.approx(1.0465, abs=1e-4)
    else:
        assert chosen["gpu_type"] is None and chosen["model"] == "inspyrenet-fast"
    assert "not measured" in document["candidates"][0]["seconds_per_image_source"]


def test_plan_table_and_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _plan(capsys, "incident")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["#", "kind", "region", "parallel"]
    assert lines[3].startswith("*  2  gpu   europe-west4")
    assert "held in us-central1 by cutout-batch, cutout: 6 zonal + 0 non-zonal L4" in out
    assert "chosen: #2 nvidia-l4 job (no zonal redundancy) in europe-west4: 116 tasks" in out

    code, document, err = _plan(capsys, "nothing-fits", "--format", "json")
    assert code == 1 and document["chosen"] is None
    assert any("--gpus 3 --no-zonal-redundancy" in r for r in document["requests"])
    (line,) = err.strip().splitlines()
    assert line.startswith(f"cutout: {CONFIG}: nothing fits the job: ")
    assert "3 GPUs for this job" in line


def test_plan_entry_point_subprocess() -> None:
    """The installed entry point, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", "deploy", "job", "plan", "--config", CONFIG,
         "--from-snapshot", "tests/deploy/snapshots/job-shared-l4", "--items", "5000",
         "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    chosen = json.loads(done.stdout)["chosen"]
    assert (chosen["step"], chosen["parallelism"], chosen["task_count"]) == ("gpu-fewer", 2, 6)


# live ----------------------------------------------------------------------------------
@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cutout-deploy.toml"
    path.write_text(job_toml({"max_retries": 1}, cpu={"model": "u2netp"}), encoding="utf-8")
    return path


def _cli(fake: FakeGcp, config: Path, *args: str) -> int:
    return main(["deploy", "job", *args, "--config", str(config), "--endpoint", fake.endpoint])


def _upload(client: Any, names: list[str]) -> None:
    bucket = client.bucket(BUCKET)
    for name in names:
        bucket.blob(f"originals/{name}").upload_from_string(b"jpeg bytes")


def stand_in_batch(client: Any) -> Callable[[TaskAttempt], int]:
    """What `cutout batch SRC DST` does in a task, by its contract: the task's shard of
    SRC, one report line per item, exit 1 when an item failed (so Cloud Run retries)."""

    def store(text: str) -> GcsStore:
        location = parse_location(text)
        assert isinstance(location, GcsLocation)
        return GcsStore(location, client=client, retry=fast_retry())

    def run(attempt: TaskAttempt) -> int:
        assert attempt.args[0] == "batch"
        source, target = store(attempt.args[1]), store(attempt.args[2])
        env = attempt.env
        shard = shard_from_task(int(env["CLOUD_RUN_TASK_INDEX"]), int(env["CLOUD_RUN_TASK_COUNT"]))
        assert shard is not None
        report = ShardReport(target, shard)
        failed = False
        for item in shard.select(source.list()):
            output = item.name.rsplit(".", 1)[0] + ".png"
            if item.name.startswith("broken"):
                report.add(ReportLine(item.name, output, "failed", "cannot identify image file"))
                failed = True
            else:
                target.write_text(output, "cut-out")
                report.add(ReportLine(item.name, output, "done", None, 0.2))
        report.flush()
        return 1 if failed else 0

    return run


def test_apply_dry_run_then_apply_then_run_and_status_with_failed_items(
    fake_gcp: FakeGcp,
    storage_client: Any,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    names = [f"shoe-{i:02}.jpg" for i in range(10)] + ["broken-1.jpg", "broken-2.jpg"]
    _upload(storage_client, names)

    # the item count comes from listing SRC in Cloud Storage
    assert _cli(fake_gcp, config_file, "apply", "--dry-run", "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["plan"]["items"] == 12
    request = document["request"]
    assert (request["method"], request["query"]) == ("POST", {"jobId": "catalogue"})
    assert request["body"]["template"]["template"]["gpuZonalRedundancyDisabled"] is True
    assert request["body"]["template"]["taskCount"] == 3  # 12 items, 3 at once
    assert not fake_gcp.requests_to("POST", "/jobs")

    assert _cli(fake_gcp, config_file, "apply") == 0
    out = capsys.readouterr().out
    assert f"created {JOB}" in out and "  gpu: 1\n" in out
    assert _cli(fake_gcp, config_file, "apply") == 0
    assert f"unchanged {JOB}" in capsys.readouterr().out

    fake_gcp.run.script_next_execution(ExecutionScript(runner=stand_in_batch(storage_client)))
    code = _cli(fake_gcp, config_file, "run", "--wait", "--poll", "0", "--tasks", "4")
    out, _ = capsys.readouterr()

    assert code == 1  # the broken items failed their tasks for good
    assert "started " in out and "4 tasks" in out
    assert "/4 tasks succeeded" in out  # progress lines
    assert "reports gs://shop-catalogue/cutouts/.cutout/reports/ (shard-*-of-4)" in out
    assert "12 items: 10 done, 0 skipped (up to date), 2 failed" in out
    assert "  broken-1.jpg: cannot identify image file" in out
    assert "  broken-2.jpg: cannot identify image file" in out

    code = _cli(fake_gcp, config_file, "status", "--format", "json")
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and not document["ok"]
    execution = document["execution"]
    assert execution["state"] == "failed" and execution["task_count"] == 4
    assert execution["retried"] >= 1  # max_retries 1: each failing task ran twice
    failed_tasks = [t for t in document["tasks"] if t["state"] == "failed"]
    assert failed_tasks and all(t["retried"] == 1 for t in failed_tasks)
    reports = document["reports"]
    assert (reports["done"], reports["failed"]) == (10, 2)
    assert sorted(f["source"] for f in reports["failed_items"]) == ["broken-1.jpg", "broken-2.jpg"]


def test_run_sizes_tasks_for_items_and_overrides_the_locations(
    fake_gcp: FakeGcp,
    storage_client: Any,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _cli(fake_gcp, config_file, "apply", "--items", "50") == 0  # a CPU job (no L4)
    capsys.readouterr()
    attempts: list[TaskAttempt] = []
    fake_gcp.run.script_next_execution(ExecutionScript(runner=lambda a: attempts.append(a) or 0))
    code = _cli(
        fake_gcp, config_file, "run", "--items", "20000", "--source", "gs://shop-catalogue/in2/",
        "--timeout", "1800", "--wait", "--poll", "0",
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out
    # u2netp on the CPU: 0.5 s per image, 30 s start-up, within 60 % of the 1800 s
    # timeout of this run: 2100 a task -> 10 tasks, whole waves of 4 -> 12
    counts = {a.env["CLOUD_RUN_TASK_COUNT"] for a in attempts}
    assert counts == {"12"}
    assert {a.args[1] for a in attempts} == {"gs://shop-catalogue/in2/"}
    assert {a.args[2] for a in attempts} == {"gs://shop-catalogue/cutouts/"}
    assert "12/12 tasks succeeded" in out


def test_run_refused_for_quota_says_to_plan_again(
    fake_gcp: FakeGcp, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    assert _cli(fake_gcp, config_file, "apply", "--items", "10000") == 0
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 1)
    capsys.readouterr()
    assert _cli(fake_gcp, config_file, "run") == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Parallelism must be set to 1 or fewer" in line
    assert line.endswith("`cutout deploy job apply` plans it again)")


def test_a_gpu_run_cannot_ask_for_more_than_an_hour(
    fake_gcp: FakeGcp, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)
    assert _cli(fake_gcp, config_file, "apply", "--items", "100") == 0
    capsys.readouterr()
    assert _cli(fake_gcp, config_file, "run", "--timeout", "3601") == 1
    assert "a task that uses a GPU runs at most 3600 s" in capsys.readouterr().err
    assert not fake_gcp.requests_to("POST", ":run")


def test_status_without_a_job_is_one_line(
    fake_gcp: FakeGcp, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(fake_gcp, config_file, "status") == 1
    _, err = capsys.readouterr()
    assert err == (
        "cutout: job catalogue does not exist in us-central1, europe-west4: create it with "
        "`cutout deploy job apply`\n"
    )
