"""The live ``cutout deploy`` subcommands as a user runs them (subprocess), against the
fake APIs through ``--endpoint``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cutout.deploy.gcp import GcpClients
from tests.cli.runner import cutout
from tests.fakes.fixtures import (
    GPU_NO_ZR,
    GPU_ZR,
    PROJECT,
    fake_gcp,
    gcp_clients,
    push_revisions,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]

CONFIG = f"""
project = "{PROJECT}"
service = "cutout"
regions = ["us-central1", "europe-west4"]
image = "us-central1-docker.pkg.dev/{PROJECT}/cutout/cutout:0.1.0"
latency_target_ms = 3000

[gpu]
max_instances = 3
model = "inspyrenet-base"

[cpu]
max_instances = 4
cpu = "8"
memory = "16Gi"
model = "inspyrenet-fast"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cutout-deploy.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(fake: FakeGcp, config: Path, *args: str) -> tuple[int, str, str]:
    done = cutout("deploy", *args, "--config", config, "--endpoint", fake.endpoint)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_dry_run_prints_plan_and_exact_request_and_sends_nothing(
    fake_gcp: FakeGcp, config_file: Path
) -> None:
    fake_gcp.quotas.set_limit(GPU_ZR, "us-central1", 0)
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "us-central1", 3)

    code, out, err = run(fake_gcp, config_file, "apply", "--dry-run", "--format", "json")

    assert code == 0, err
    document = json.loads(out)
    chosen = document["plan"]["chosen"]
    assert (chosen["kind"], chosen["gpu_zonal_redundancy"]) == ("gpu", False)
    request = document["request"]
    assert request["method"] == "POST"
    assert request["path"] == f"/v2/projects/{PROJECT}/locations/us-central1/services"
    assert request["query"] == {"serviceId": "cutout"}
    template = request["body"]["template"]
    assert template["gpuZonalRedundancyDisabled"] is True
    assert template["nodeSelector"] == {"accelerator": "nvidia-l4"}
    assert template["scaling"]["maxInstanceCount"] == 3
    limits = template["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert not any(r.method in ("POST", "PATCH", "DELETE") for r in fake_gcp.requests)


def test_apply_without_a_smoke_image_is_refused(fake_gcp: FakeGcp, config_file: Path) -> None:
    code, _, err = run(fake_gcp, config_file, "apply")
    assert code == 1
    assert (
        err.strip() == "cutout: apply needs --smoke-image PATH: a real photo the smoke test removes"
    )


def test_bad_gradual_is_refused(fake_gcp: FakeGcp, config_file: Path) -> None:
    code, _, err = run(fake_gcp, config_file, "apply", "--gradual", "50,10", "--dry-run")
    assert code == 1
    assert "--gradual '50,10'" in err


def test_status_rollback_cleanup(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, config_file: Path
) -> None:
    first, second, third = push_revisions(gcp_clients, 3)

    code, out, err = run(fake_gcp, config_file, "status", "--format", "json")
    assert code == 0, err
    central = json.loads(out)["regions"][0]
    assert [(r["name"], r["percent"]) for r in central["revisions"]][:1] == [(third, 100)]

    code, out, err = run(fake_gcp, config_file, "rollback", "--to", first)
    assert code == 0, err
    assert f"rolled back from {third} to {first}" in out

    code, out, err = run(fake_gcp, config_file, "cleanup", "--keep", "0")
    assert code == 0, err
    assert f"delete  {second} (dry run: add --yes)" in out
    assert f"{second}" in {n.rsplit("/", 1)[-1] for n in fake_gcp.run.revisions}

    code, out, err = run(fake_gcp, config_file, "cleanup", "--keep", "0", "--yes")
    assert code == 0, err
    left = {n.rsplit("/", 1)[-1] for n in fake_gcp.run.revisions}
    assert first in left and second not in left and third in left  # third: latest created


def test_quota_request(fake_gcp: FakeGcp, config_file: Path) -> None:
    fake_gcp.quotas.grant = lambda preference: 0
    code, out, err = run(
        fake_gcp,
        config_file,
        "quota",
        "request",
        "--region",
        "europe-west4",
        "--gpus",
        "2",
        "--no-zonal-redundancy",
        "--email",
        "ops@petshop.example",
        "--format",
        "json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["quota_id"], report["preferred"], report["granted"]) == (GPU_NO_ZR, 2, 0)


def test_snapshot_then_offline_plan(fake_gcp: FakeGcp, config_file: Path, tmp_path: Path) -> None:
    fake_gcp.quotas.set_limit(GPU_NO_ZR, "europe-west4", 3)
    code, _, err = run(fake_gcp, config_file, "snapshot", str(tmp_path / "snap"))
    assert code == 0, err
    assert (tmp_path / "snap" / "quotaInfos.json").is_file()

    planned = cutout(
        "deploy",
        "plan",
        "--config",
        config_file,
        "--from-snapshot",
        tmp_path / "snap",
        "--format",
        "json",
    )
    assert planned.returncode == 0, planned.stderr.decode()
    chosen = json.loads(planned.stdout)["chosen"]
    assert (chosen["region"], chosen["gpu_zonal_redundancy"]) == ("europe-west4", False)


def test_unreachable_api_is_one_line(config_file: Path) -> None:
    from tests.server.live import free_port

    done = cutout(
        "deploy",
        "status",
        "--config",
        config_file,
        "--endpoint",
        f"http://127.0.0.1:{free_port()}",
    )
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutout: list Cloud Run quotas of petshop-prod")
