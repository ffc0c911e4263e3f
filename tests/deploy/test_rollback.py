"""Rollback: 100 % to the previous revision that served, or to a named one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cutout.deploy.apply import ApplyOptions, apply
from cutout.deploy.gcp import GcpClients
from cutout.deploy.rollback import rollback
from cutout.deploy.rollout import HISTORY_ANNOTATION
from cutout.errors import DeployError
from tests.fakes.fixtures import (
    PROJECT,
    fake_gcp,
    gcp_clients,
    make_config,
    push_revisions,
    smoke_image,
    standin,
    to_standin,
)
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients", "smoke_image", "standin", "to_standin"]

SERVICE = f"projects/{PROJECT}/locations/us-central1/services/cutout"


def serving(fake: FakeGcp) -> list[tuple[str, int]]:
    service = fake.run.services[SERVICE]
    return [(t.revision, t.percent) for t in service.traffic_statuses if t.percent]


def test_rollback_after_two_applies_returns_to_the_first(
    fake_gcp: FakeGcp,
    gcp_clients: GcpClients,
    smoke_image: bytes,
    to_standin: Callable[[str], str],
) -> None:
    from cutout.deploy.live import read_live
    from cutout.deploy.plan import make_plan

    config = make_config(cpu={"model": "u2netp"}, regions=["us-central1"])
    served = []
    for max_instances in (4, 3):  # two different templates -> two revisions
        config = make_config(
            cpu={"model": "u2netp", "max_instances": max_instances}, regions=["us-central1"]
        )
        snapshot = read_live(gcp_clients, config)
        plan = make_plan(config, snapshot.limits, snapshot.usage)
        assert plan.chosen is not None
        report = apply(
            gcp_clients,
            config,
            [plan.chosen],
            ApplyOptions(image=smoke_image, url_for=to_standin, poll_s=0.01, ready_timeout_s=30),
        )
        assert report.ok, report.lines()
        served.append(report.attempts[-1].revision)
    assert fake_gcp.run.services[SERVICE].annotations[HISTORY_ANNOTATION] == ",".join(served)

    result = rollback(gcp_clients, PROJECT, "us-central1", "cutout", poll_s=0.01, timeout_s=20)

    assert result.from_revisions == (served[1],)
    assert result.to_revision == served[0]
    assert serving(fake_gcp) == [(served[0], 100)]
    patch = fake_gcp.requests_to("PATCH", "/services/cutout")[-1]
    assert patch.body is not None
    assert patch.body["traffic"] == [{"type": 2, "revision": served[0], "percent": 100}]


def test_rollback_without_history_picks_the_newest_older_ready_revision(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    first, second, third = push_revisions(gcp_clients, 3)
    fake_gcp.run.fail_next_revision("Container failed to start.")
    with pytest.raises(DeployError):
        push_revisions(gcp_clients, 1)  # a failed fourth: never a rollback target
    assert serving(fake_gcp) == [(third, 100)]

    result = rollback(gcp_clients, PROJECT, "us-central1", "cutout", poll_s=0.01, timeout_s=20)

    assert result.to_revision == second
    assert serving(fake_gcp) == [(second, 100)]
    assert first in {r.rsplit("/", 1)[-1] for r in fake_gcp.run.revisions}


def test_rollback_to_a_named_revision(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> None:
    first, _, _ = push_revisions(gcp_clients, 3)

    result = rollback(
        gcp_clients, PROJECT, "us-central1", "cutout", to=first, poll_s=0.01, timeout_s=20
    )

    assert result.to_revision == first
    assert serving(fake_gcp) == [(first, 100)]


def test_rollback_refuses_unknown_and_failed_revisions(
    fake_gcp: FakeGcp, gcp_clients: GcpClients
) -> None:
    push_revisions(gcp_clients, 1)
    fake_gcp.run.fail_next_revision("Container failed to start.")
    with pytest.raises(DeployError):
        push_revisions(gcp_clients, 1)
    failed = fake_gcp.run.services[SERVICE].latest_created_revision.rsplit("/", 1)[-1]

    with pytest.raises(DeployError, match="no revision 'cutout-99999-zzz'"):
        rollback(gcp_clients, PROJECT, "us-central1", "cutout", to="cutout-99999-zzz", timeout_s=20)
    with pytest.raises(DeployError, match="is not ready"):
        rollback(gcp_clients, PROJECT, "us-central1", "cutout", to=failed)
    with pytest.raises(DeployError, match="no earlier ready revision"):
        rollback(gcp_clients, PROJECT, "us-central1", "cutout")
