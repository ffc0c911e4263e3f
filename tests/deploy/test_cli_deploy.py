"""``cutout deploy plan|manifest|multi-region|alerts`` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import run_v2

from cutout.cli.main import main
from cutout.deploy.gcp import Gcloud, GcpClients
from tests.conftest import REPO
from tests.fakes.gcloud import FakeGcloud
from tests.fakes.gcp import FakeGcp
from tests.fakes.monitoring import FakeMonitoring

CONFIG = str(REPO / "docs" / "cutout-deploy.toml")
EAST_FIRST = str(Path(__file__).resolve().parent / "configs" / "east-first.toml")
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
REQUIRED = {
    "kind",
    "region",
    "gpu_type",
    "gpu_zonal_redundancy",
    "max_instances",
    "cpu",
    "memory",
    "fits",
    "blocked_by",
    "cost_per_hour_usd",
    "max_cost_per_day_usd",
}


def _plan_json(
    capsys: pytest.CaptureFixture[str], snapshot: str, config: str = CONFIG
) -> tuple[int, dict[str, Any], str]:
    code = main(
        ["deploy", "plan", "--config", config, "--from-snapshot", str(SNAPSHOTS / snapshot),
         "--format", "json"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_plan_json_subprocess_zonal_none() -> None:
    """The installed entry point, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", "deploy", "plan", "--config", CONFIG,
         "--from-snapshot", "tests/deploy/snapshots/zonal-none", "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) >= {"chosen", "candidates"}
    for candidate in document["candidates"]:
        assert set(candidate) >= REQUIRED
        assert candidate["kind"] in ("gpu", "cpu")
        assert isinstance(candidate["fits"], bool)
    chosen = document["chosen"]
    assert (chosen["kind"], chosen["region"], chosen["gpu_zonal_redundancy"]) == (
        "gpu", "us-central1", False,
    )  # fmt: skip
    assert (chosen["max_instances"], chosen["cpu"], chosen["memory"]) == (3, "4", "16Gi")
    assert chosen["gpu_type"] == "nvidia-l4" and chosen["blocked_by"] is None
    assert chosen["cost_per_hour_usd"] == pytest.approx(1.0465, abs=1e-4)
    first = document["candidates"][0]
    assert first["blocked_by"] == "NvidiaL4GpuAllocPerProjectRegion" and first["fits"] is False


def test_plan_no_gpu_quota_is_cpu_on_fast_model_with_2_instances(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document, _ = _plan_json(capsys, "no-gpu-quota")
    assert code == 0
    chosen = document["chosen"]
    assert chosen["kind"] == "cpu" and chosen["model"] == "inspyrenet-fast"
    assert chosen["gpu_type"] is None and chosen["gpu_zonal_redundancy"] is None
    assert chosen["max_instances"] == 2 and chosen["cpu"] == "8"


def test_plan_first_region_without_l4(capsys: pytest.CaptureFixture[str]) -> None:
    code, document, _ = _plan_json(capsys, "first-region-no-l4", EAST_FIRST)
    assert code == 0
    assert document["candidates"][0]["region"] == "us-east1"
    assert document["candidates"][0]["fits"] is False
    assert (document["chosen"]["kind"], document["chosen"]["region"]) == ("gpu", "europe-west4")


def test_plan_table_marks_regions_without_l4(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["deploy", "plan", "--config", EAST_FIRST, "--from-snapshot",
         str(SNAPSHOTS / "first-region-no-l4")]
    )  # fmt: skip
    rows = capsys.readouterr().out.splitlines()
    assert code == 0
    assert rows[1].split()[2] == "us-east1" and rows[1].endswith("(no L4 in this region)")
    assert rows[2].startswith("*") and "europe-west4" in rows[2]


def test_plan_incident_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["deploy", "plan", "--config", CONFIG, "--from-snapshot", str(SNAPSHOTS / "incident")]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "used in us-central1 by cutout-batch: 3 zonal + 0 non-zonal L4" in out
    assert "chosen: #4 nvidia-l4 GPU without zonal redundancy in europe-west4, max 2" in out
    assert "prices as of 2026-08" in out


def test_plan_nothing_fits_exits_1_with_what_to_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document, err = _plan_json(capsys, "nothing-fits")
    assert code == 1
    assert document["chosen"] is None
    assert any("--gpus 3 --no-zonal-redundancy" in line for line in document["requests"])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cutout: {CONFIG}: nothing fits: ")
    assert "short by 3 GPUs" in lines[0]


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "deploy.toml"
    text = Path(CONFIG).read_text(encoding="utf-8").replace('cpu = "4"', 'cpu = "2"')
    bad.write_text(text, encoding="utf-8")
    code = main(["deploy", "plan", "--config", str(bad), "--from-snapshot", str(SNAPSHOTS)])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == f"cutout: {bad}: gpu.cpu: nvidia-l4 needs at least 4 vCPU\n"


def test_missing_snapshot_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "plan", "--config", CONFIG, "--from-snapshot", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 1 and "quotaInfos.json: missing" in err


def test_manifest_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "service.yaml"
    code = main(
        ["deploy", "manifest", "--config", CONFIG, "--from-snapshot",
         str(SNAPSHOTS / "no-gpu-quota"), "-o", str(target)]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0
    document = yaml.safe_load(target.read_text(encoding="utf-8"))
    annotations = document["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/maxScale"] == "2"
    assert "nodeSelector" not in document["spec"]["template"]["spec"]
    assert f"gcloud run services replace {target} --region=us-central1" in err


def test_manifest_of_a_blocked_candidate_warns(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["deploy", "manifest", "--config", CONFIG, "--from-snapshot",
         str(SNAPSHOTS / "no-gpu-quota"), "--candidate", "0"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "run.googleapis.com/accelerator: nvidia-l4" in out
    assert "does NOT fit" in err
    assert main(["deploy", "manifest", "--config", CONFIG, "--from-snapshot",
                 str(SNAPSHOTS / "no-gpu-quota"), "--candidate", "99"]) == 1  # fmt: skip


def test_multi_region_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["deploy", "multi-region", "--config", CONFIG, "--from-snapshot",
         str(SNAPSHOTS / "zonal-none"), "--domain", "cutout.petshop.example",
         "--output-dir", str(tmp_path), "--dry-run"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    assert "gcloud compute backend-services create cutout-backend" in out
    assert f"gcloud run services replace {tmp_path}/service-us-central1.yaml" in out
    assert "--network-endpoint-type=serverless --cloud-run-service=cutout" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "service-europe-west4.yaml", "service-us-central1.yaml",
    ]  # fmt: skip
    code = main(
        ["deploy", "multi-region", "--config", CONFIG, "--from-snapshot",
         str(SNAPSHOTS / "zonal-none"), "--domain", "c.example", "--regions", "us-central1",
         "--dry-run"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1 and "at least 2 regions" in err


def test_multi_region_run_twice_reuses_the_load_balancer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGcloud()
    monkeypatch.setattr(Gcloud, "create", classmethod(lambda cls: cls(execute=fake.execute)))
    argv = ["deploy", "multi-region", "--config", CONFIG, "--from-snapshot",
            str(SNAPSHOTS / "zonal-none"), "--domain", "cutout.petshop.example",
            "--output-dir", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert f"$ gcloud run services replace {tmp_path}/service-us-central1.yaml" in first
    assert "$ gcloud compute forwarding-rules create cutout-https-rule" in first
    assert first.count("$ gcloud compute") == 10
    assert "exists, reused" not in first
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert "exists, reused: serverless NEG cutout-neg-us-central1" in second
    assert "exists, reused: forwarding rule cutout-https-rule" in second
    assert "$ gcloud compute" not in second  # nothing created the second time


def test_alerts_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "alerts", "--config", CONFIG, "--dry-run"])
    out, _ = capsys.readouterr()
    assert code == 0
    policies = json.loads(out)
    assert [p["displayName"] for p in policies] == [
        "cutout: 5xx ratio", "cutout: p95 latency", "cutout: instances at max",
        "cutout: revision not ready", "cutout: quota usage us-central1",
        "cutout: quota usage europe-west4",
    ]  # fmt: skip
    assert main(["deploy", "alerts", "--config", CONFIG, "--dry-run",
                 "--notification-channel", "email-me"]) == 1  # fmt: skip
    with pytest.raises(SystemExit) as usage:
        main(["deploy", "alerts", "--config", CONFIG, "--dry-run", "--quota-percent", "120"])
    assert usage.value.code == 2


def test_alerts_against_the_monitoring_fake_twice(capsys: pytest.CaptureFixture[str]) -> None:
    """Created the first time, updated in place the second (no duplicates)."""
    with FakeMonitoring("petshop-prod") as fake:
        argv = ["deploy", "alerts", "--config", CONFIG, "--endpoint", fake.endpoint]
        assert main([*argv, "--quota-percent", "90"]) == 0
        first = capsys.readouterr().out.splitlines()
        assert len(first) == 6 and all(line.startswith("created ") for line in first)
        assert main(argv) == 0
        second = capsys.readouterr().out.splitlines()
        assert [line.replace("updated", "created", 1) for line in second] == first
        assert len(fake.policies) == 6
        quota = [
            p for p in fake.policies.values() if p.user_labels["policy"] == "quota-us-central1"
        ]
        query = quota[0].conditions[0].condition_prometheus_query_language.query
        assert query.endswith(">= 0.8")  # the second run's default replaced the 90


def test_plan_live_against_the_fake_apis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Live mode: the real clients read Cloud Quotas and ListServices (the fake on loopback)."""
    config = tmp_path / "cutout-deploy.toml"
    config.write_text(
        Path(CONFIG).read_text(encoding="utf-8").replace("petshop-prod", "shop-live"), "utf-8"
    )
    with FakeGcp("shop-live", "418305719264") as fake:
        for region in ("us-central1", "europe-west4"):
            fake.quotas.set_limit("CpuAllocPerProjectRegion", region, 200_000)
            fake.quotas.set_limit("MemAllocPerProjectRegion", region, 400 * 2**30)
        fake.quotas.set_limit("NvidiaL4GpuAllocPerProjectRegion", "us-central1", 3)
        fake.quotas.set_limit("NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion", "us-central1", 0)
        clients = GcpClients.create(endpoint=fake.endpoint)
        # another service already holds 2 of the 3 zonal L4s in us-central1
        template = run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image="us-docker.pkg.dev/cloudrun/container/hello",
                    resources=run_v2.ResourceRequirements(
                        limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                        cpu_idle=False,
                    ),
                )
            ],
            scaling=run_v2.RevisionScaling(max_instance_count=2),
            node_selector=run_v2.NodeSelector(accelerator="nvidia-l4"),
        )
        operation = clients.services.create_service(
            parent="projects/shop-live/locations/us-central1",
            service=run_v2.Service(template=template),
            service_id="batch",
        )
        clients.wait("create batch", operation, timeout_s=30)
        code = main(
            ["deploy", "plan", "--config", str(config), "--endpoint", fake.endpoint,
             "--format", "json"]
        )  # fmt: skip
        out, err = capsys.readouterr()
        assert fake.requests_to("GET", "quotaInfos"), "limits must come from Cloud Quotas"
        # the same inputs saved as a snapshot give the same plan offline
        saved = tmp_path / "snap"
        assert main(["deploy", "snapshot", str(saved), "--config", str(config),
                     "--endpoint", fake.endpoint]) == 0  # fmt: skip
        capsys.readouterr()
        assert fake.errors == []
    assert code == 0, err
    offline = main(
        ["deploy", "plan", "--config", str(config), "--from-snapshot", str(saved),
         "--format", "json"]
    )  # fmt: skip
    assert offline == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out)
    chosen = json.loads(out)["chosen"]
    assert (chosen["kind"], chosen["region"], chosen["gpu_zonal_redundancy"]) == (
        "gpu", "us-central1", True,
    )  # fmt: skip
    assert chosen["max_instances"] == 1  # 3 zonal L4s - 2 used by `batch`
