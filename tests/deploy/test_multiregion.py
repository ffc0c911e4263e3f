"""Multi-region: per-region plans with min 1 + readiness, the exact gcloud LB commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from cutout.deploy.gcp import Gcloud
from cutout.deploy.multiregion import MultiRegionSetup, lb_commands, plan_multi_region
from cutout.deploy.multiregion_live import apply_multi_region, run_commands
from cutout.deploy.types import Snapshot
from cutout.errors import ConfigError, DeployError
from tests.deploy.planning import config, limits
from tests.fakes.gcloud import FakeGcloud


def _snapshot() -> Snapshot:
    return Snapshot(
        limits={
            "us-central1": limits("us-central1", zonal=3),
            "europe-west4": limits("europe-west4", zonal=0, no_zonal=0),
            "us-east1": limits("us-east1"),
        },
        usage={},
    )


def test_each_region_planned_with_min_one_and_readiness() -> None:
    cfg = config(regions=["us-central1", "europe-west4"])
    setup = plan_multi_region(cfg, _snapshot(), cfg.regions, "cutout.petshop.example")
    assert setup.ok
    central, west = setup.choices
    assert central.candidate is not None and central.candidate.kind == "gpu"
    assert west.candidate is not None and west.candidate.kind == "cpu"  # no GPU quota there
    for choice in setup.choices:
        assert choice.candidate is not None and choice.candidate.min_instances == 1
        document = yaml.safe_load(setup.manifests[choice.region])
        template = document["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/minScale"] == "1"
        assert template["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"
    # always-on: 1 zonal L4 instance (4 vCPU, 16 GiB) + 1 CPU instance (8 vCPU, 16 GiB)
    assert setup.always_on_per_day_usd == pytest.approx(1.4216 * 24 + 0.6336 * 24, abs=0.02)
    report = setup.report()
    assert "at least 2 regions" in report and "min instances >= 1" in report
    assert "readiness probe" in report and "60 %" in report


def test_exact_gcloud_commands() -> None:
    cfg = config()
    commands = [" ".join(c) for c in lb_commands(cfg, ["us-central1", "europe-west4"], "c.example")]
    p = "--project=petshop-prod"
    assert commands == [
        "gcloud compute network-endpoint-groups create cutout-neg-us-central1 "
        f"--region=us-central1 --network-endpoint-type=serverless --cloud-run-service=cutout {p}",
        "gcloud compute network-endpoint-groups create cutout-neg-europe-west4 "
        f"--region=europe-west4 --network-endpoint-type=serverless --cloud-run-service=cutout {p}",
        "gcloud compute backend-services create cutout-backend "
        f"--load-balancing-scheme=EXTERNAL_MANAGED --global {p}",
        "gcloud compute backend-services add-backend cutout-backend --global "
        "--network-endpoint-group=cutout-neg-us-central1 "
        f"--network-endpoint-group-region=us-central1 {p}",
        "gcloud compute backend-services add-backend cutout-backend --global "
        "--network-endpoint-group=cutout-neg-europe-west4 "
        f"--network-endpoint-group-region=europe-west4 {p}",
        "gcloud compute url-maps create cutout-url-map --default-service=cutout-backend "
        f"--global {p}",
        f"gcloud compute ssl-certificates create cutout-cert --domains=c.example --global {p}",
        "gcloud compute target-https-proxies create cutout-https-proxy "
        f"--url-map=cutout-url-map --ssl-certificates=cutout-cert --global {p}",
        "gcloud compute addresses create cutout-ip --ip-version=IPV4 --network-tier=PREMIUM "
        f"--global {p}",
        "gcloud compute forwarding-rules create cutout-https-rule "
        "--load-balancing-scheme=EXTERNAL_MANAGED --network-tier=PREMIUM --address=cutout-ip "
        f"--target-https-proxy=cutout-https-proxy --global --ports=443 {p}",
    ]


def test_one_region_is_not_enough() -> None:
    cfg = config(regions=["us-central1"])
    setup = plan_multi_region(cfg, _snapshot(), cfg.regions, "c.example")
    assert not setup.ok
    assert "at least 2 regions, got 1" in setup.problems[0]
    assert setup.to_json()["commands"] == []


def test_a_region_where_nothing_fits_is_a_problem() -> None:
    cfg = config(regions=["us-central1", "us-east1"], cpu={"enabled": False})
    setup = plan_multi_region(cfg, _snapshot(), cfg.regions, "c.example")
    assert not setup.ok
    assert setup.problems[0].startswith("nothing fits in us-east1")


def test_regions_together_must_fit_the_budget() -> None:
    # each region alone fits $110/day (zonal L4 x3 = $102.36, CPU x4 = $60.83), not both
    cfg = config(regions=["us-central1", "europe-west4"], daily_budget_usd=110.0)
    setup = plan_multi_region(cfg, _snapshot(), cfg.regions, "c.example")
    assert all(c.candidate is not None for c in setup.choices)
    assert not setup.ok
    assert setup.problems == [
        "together the regions cost up to $163.19/day, over the budget $110.00/day: raise "
        "daily_budget_usd, lower max_instances or use fewer regions"
    ]
    roomy = config(regions=["us-central1", "europe-west4"], daily_budget_usd=170.0)
    assert plan_multi_region(roomy, _snapshot(), roomy.regions, "c.example").ok


def test_bad_domain() -> None:
    cfg = config()
    with pytest.raises(ConfigError, match="--domain"):
        plan_multi_region(cfg, _snapshot(), cfg.regions, "not a domain")


def _fake_gcloud(folder: Path, exit_code: int) -> Path:
    """A real executable named gcloud that records its arguments."""
    log = folder / "calls.txt"
    script = folder / "gcloud"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit {exit_code}\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def test_run_commands_runs_in_order_and_stops_at_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _fake_gcloud(tmp_path, 0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    commands = lb_commands(config(), ["us-central1", "europe-west4"], "c.example")
    run_commands(commands)
    assert log.read_text(encoding="utf-8").splitlines() == [" ".join(c[1:]) for c in commands]

    log.unlink()
    _fake_gcloud(tmp_path, 3)
    with pytest.raises(DeployError, match="exit 3: gcloud compute network-endpoint-groups"):
        run_commands(commands)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1


def test_run_commands_without_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeployError, match="gcloud is not on PATH"):
        run_commands([["gcloud", "version"]])


# Creating the load balancer: each resource is described first and reused when there.
def _setup() -> MultiRegionSetup:
    cfg = config(regions=["us-central1", "europe-west4"])
    setup = plan_multi_region(cfg, _snapshot(), cfg.regions, "c.example")
    assert setup.ok
    return setup


def _gcloud(fake: FakeGcloud, shown: list[str]) -> Gcloud:
    return Gcloud(execute=fake.execute, echo=shown.append)


def test_load_balancer_created_then_reused_on_a_second_run() -> None:
    setup, fake, shown = _setup(), FakeGcloud(), []
    first = apply_multi_region(setup, "deploy", _gcloud(fake, shown))
    assert [o.action for o in first] == ["created"] * 10
    changed = [c for c in fake.calls if c[1] == "compute" and c[3] != "describe"]
    assert changed == lb_commands(setup.config, setup.regions, "c.example")  # in order
    backend = fake.resources[("backend-services", "global", "cutout-backend")]
    assert [b["group"].rsplit("/", 1)[-1] for b in backend["backends"]] == [
        "cutout-neg-us-central1",
        "cutout-neg-europe-west4",
    ]
    assert len(fake.resources) == 8  # 2 NEGs, backend service, URL map, cert, proxy, IP, rule

    fake.calls.clear()
    shown.clear()
    second = apply_multi_region(setup, "deploy", _gcloud(fake, shown))
    assert [(o.what, o.action) for o in second] == [(o.what, "reused") for o in first]
    assert fake.commands("create") == fake.commands("add-backend") == []
    assert len(fake.commands("replace")) == 2  # the services are replaced every time
    assert "exists, reused: backend cutout-neg-europe-west4 of cutout-backend" in shown
    assert "exists, reused: forwarding rule cutout-https-rule" in shown


def test_a_run_that_stopped_half_way_is_completed() -> None:
    setup, fake = _setup(), FakeGcloud()
    fake.fail("gcloud compute backend-services add-backend cutout-backend --global "
              "--network-endpoint-group=cutout-neg-europe-west4")  # fmt: skip
    with pytest.raises(DeployError, match="exit 1: gcloud compute backend-services add-backend"):
        apply_multi_region(setup, "deploy", _gcloud(fake, []))
    fake.failures.clear()
    outcomes = {o.what: o.action for o in apply_multi_region(setup, "deploy", _gcloud(fake, []))}
    assert outcomes["serverless NEG cutout-neg-us-central1"] == "reused"
    assert outcomes["backend cutout-neg-us-central1 of cutout-backend"] == "reused"
    assert outcomes["backend cutout-neg-europe-west4 of cutout-backend"] == "created"
    assert outcomes["forwarding rule cutout-https-rule"] == "created"


def test_a_genuine_error_still_fails_and_stops() -> None:
    setup, fake = _setup(), FakeGcloud()
    apply_multi_region(setup, "deploy", _gcloud(fake, []))
    del fake.resources[("url-maps", "global", "cutout-url-map")]
    fake.fail("gcloud compute url-maps create", returncode=7)  # e.g. permission denied
    fake.calls.clear()
    with pytest.raises(DeployError, match="exit 7: gcloud compute url-maps create cutout-url-map"):
        apply_multi_region(setup, "deploy", _gcloud(fake, []))
    assert fake.calls[-1][:4] == ["gcloud", "compute", "url-maps", "create"]  # nothing after


def test_a_failing_describe_does_not_hide_a_failing_create() -> None:
    setup, fake = _setup(), FakeGcloud()
    fake.fail("gcloud compute network-endpoint-groups")  # describe and create both refused
    with pytest.raises(DeployError, match="exit 1: gcloud compute network-endpoint-groups create"):
        apply_multi_region(setup, "deploy", _gcloud(fake, []))


def test_unreadable_backend_service_description_is_an_error() -> None:
    resource = next(r for r in _setup().load_balancer() if r.backend_group is not None)
    assert not resource.exists(None)
    assert not resource.exists('{"name": "cutout-backend"}')
    with pytest.raises(DeployError, match="not a backend service"):
        resource.exists("Backend services: cutout-backend")


def test_the_real_gcloud_runner_reuses_what_describe_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, described = tmp_path / "calls.txt", tmp_path / "described.json"
    groups = [f"x/regions/{r}/networkEndpointGroups/cutout-neg-{r}" for r in _setup().regions]
    described.write_text(json.dumps({"backends": [{"group": g} for g in groups]}), "utf-8")
    script = tmp_path / "gcloud"  # every describe finds its resource; a create would fail
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'case "$3" in describe) cat {described}; exit 0;; replace) exit 0;; esac\nexit 9\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    outcomes = apply_multi_region(_setup(), "deploy")
    assert {o.action for o in outcomes} == {"reused"}
    calls = log.read_text(encoding="utf-8").splitlines()
    assert len(calls) == 2 + 10 and all("create" not in c for c in calls)
