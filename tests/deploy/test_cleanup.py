"""Cleanup deletes only revisions without traffic and without tags, and only with --yes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import run_v2

from cutout.deploy.cleanup import cleanup, parse_age
from cutout.deploy.gcp import GcpClients
from cutout.errors import ConfigError
from tests.fakes.fixtures import PROJECT, fake_gcp, gcp_clients, push_revisions
from tests.fakes.gcp import FakeGcp

__all__ = ["fake_gcp", "gcp_clients"]

SERVICE = f"projects/{PROJECT}/locations/us-central1/services/cutout"
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def route(clients: GcpClients, targets: list[tuple[str, int, str]]) -> None:
    service = clients.services.get_service(name=SERVICE)
    service.traffic = [
        run_v2.TrafficTarget(type_=REVISION, revision=r, percent=p, tag=t) for r, p, t in targets
    ]
    clients.wait("route", clients.services.update_service(service=service), 10)


def remaining(fake: FakeGcp) -> set[str]:
    return {name.rsplit("/", 1)[-1] for name in fake.run.revisions}


@pytest.fixture
def six(fake_gcp: FakeGcp, gcp_clients: GcpClients) -> list[str]:
    """r1..r6 (r6 latest); r2 serves 70 %, r6 30 %, r4 is tagged at 0 %."""
    names = push_revisions(gcp_clients, 6)
    route(gcp_clients, [(names[1], 70, ""), (names[5], 30, ""), (names[3], 0, "canary")])
    return names


def test_dry_run_deletes_nothing(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, six: list[str]
) -> None:
    report = cleanup(gcp_clients, PROJECT, "us-central1", "cutout", keep=0)

    assert set(report.would_delete) == {six[0], six[2], six[4]}
    assert report.deleted == ()
    assert remaining(fake_gcp) == set(six)
    assert fake_gcp.requests_to("DELETE", "/revisions/") == []


def test_never_touches_traffic_or_tags(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, six: list[str]
) -> None:
    report = cleanup(gcp_clients, PROJECT, "us-central1", "cutout", keep=0, yes=True)

    assert set(report.deleted) == {six[0], six[2], six[4]}
    assert remaining(fake_gcp) == {six[1], six[3], six[5]}
    why = dict(report.kept)
    assert why[six[1]] == "serves 70% of traffic"
    assert why[six[3]] == "tagged 'canary'"
    assert why[six[5]].startswith("serves 30%")


def test_keep_spares_the_newest_idle_revisions(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, six: list[str]
) -> None:
    report = cleanup(gcp_clients, PROJECT, "us-central1", "cutout", keep=1, yes=True)

    assert set(report.deleted) == {six[0], six[2]}  # r5 is the newest idle one
    assert six[4] in remaining(fake_gcp)


def test_older_than_spares_young_revisions(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, six: list[str]
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    young = cleanup(
        gcp_clients,
        PROJECT,
        "us-central1",
        "cutout",
        keep=0,
        older_than=timedelta(days=7),
        yes=True,
        now=soon,
    )
    assert young.deleted == ()
    later = datetime.now(UTC) + timedelta(days=8)
    old = cleanup(
        gcp_clients,
        PROJECT,
        "us-central1",
        "cutout",
        keep=0,
        older_than=timedelta(days=7),
        yes=True,
        now=later,
    )
    assert set(old.deleted) == {six[0], six[2], six[4]}


def test_the_fake_refuses_to_delete_a_serving_revision(
    fake_gcp: FakeGcp, gcp_clients: GcpClients, six: list[str]
) -> None:
    from cutout.deploy.errors import GcpApiError

    with pytest.raises(GcpApiError, match="referenced by a traffic target"):
        gcp_clients.call(
            "delete", gcp_clients.revisions.delete_revision, name=f"{SERVICE}/revisions/{six[1]}"
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30))],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "-1d", "1w", "1.5d"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--older-than"):
        parse_age(text)
