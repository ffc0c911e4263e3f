"""Waiting for a rollout to settle, and moving traffic: shared by apply and rollback.

A service is ready (the v2 ``Service`` fields,
https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services) when
``reconciling`` is false, ``terminal_condition.state == CONDITION_SUCCEEDED`` (4),
``observed_generation == generation`` and ``latest_ready_revision ==
latest_created_revision``. When a revision fails, ``latest_ready_revision`` stays on the
previous one and the terminal condition says why; a quota text there is a
:class:`QuotaExceededError` (the incident in docs/deploy.md: "Quota exceeded for total allowable
count of GPUs per project per region").
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cutout.deploy.errors import (
    DeployTimeoutError,
    GcpApiError,
    QuotaExceededError,
    RevisionNotReadyError,
    parse_quota_violation,
)
from cutout.deploy.gcp import GcpClients, revision_short

__all__ = [
    "HISTORY_ANNOTATION",
    "SUCCEEDED",
    "TrafficLine",
    "is_ready",
    "run_update",
    "served_history",
    "set_traffic",
    "traffic_lines",
    "wait_ready",
]

SUCCEEDED = 4  # Condition.State.CONDITION_SUCCEEDED
# cutout's own service annotation (not a Google one; v2 rejects only the run.googleapis.com,
# cloud.googleapis.com, serving.knative.dev and autoscaling.knative.dev prefixes).
HISTORY_ANNOTATION = "cutout.dev/served-revisions"
HISTORY_LENGTH = 10
FAILED = 3  # Condition.State.CONDITION_FAILED


@dataclass(frozen=True)
class TrafficLine:
    revision: str  # short name
    percent: int
    tag: str
    uri: str

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "percent": self.percent,
            "tag": self.tag,
            "uri": self.uri,
        }


def traffic_lines(service: Any) -> tuple[TrafficLine, ...]:
    """What serves now (``traffic_statuses``), LATEST resolved to its revision."""
    latest = revision_short(service.latest_ready_revision)
    return tuple(
        TrafficLine(status.revision or latest, int(status.percent), status.tag, status.uri)
        for status in service.traffic_statuses
    )


def is_ready(service: Any) -> bool:
    return (
        not service.reconciling
        and int(service.terminal_condition.state) == SUCCEEDED
        and service.observed_generation == service.generation
        and bool(service.latest_ready_revision)
        and service.latest_ready_revision == service.latest_created_revision
    )


def _failure(service: Any, action: str) -> Exception | None:
    if service.reconciling or service.observed_generation != service.generation:
        return None
    if int(service.terminal_condition.state) != FAILED:
        return None
    message = f"{action}: {service.terminal_condition.message}"
    violation = parse_quota_violation(message)
    if violation is not None:
        return QuotaExceededError(message, violation)
    return RevisionNotReadyError(message)


def wait_ready(
    clients: GcpClients,
    name: str,
    *,
    revision: str | None,
    timeout_s: float,
    poll_s: float = 2.0,
) -> Any:
    """The service once it is ready with ``revision`` (full name) as latest; else raise."""
    action = f"wait for {name}" + (f" revision {revision_short(revision)}" if revision else "")
    deadline = time.monotonic() + timeout_s
    while True:
        service = clients.call(action, clients.services.get_service, name=name)
        failure = _failure(service, action)
        if failure is not None:
            raise failure
        if is_ready(service) and (revision is None or service.latest_ready_revision == revision):
            return service
        if time.monotonic() >= deadline:
            raise DeployTimeoutError(
                f"{action}: not ready after {timeout_s:g} s (reconciling={service.reconciling}, "
                f"generation {service.generation}, observed {service.observed_generation}, "
                f"latest ready {revision_short(service.latest_ready_revision) or '-'}, "
                f"latest created {revision_short(service.latest_created_revision) or '-'})"
            )
        time.sleep(poll_s)


def run_update(
    clients: GcpClients,
    service: Any,
    action: str,
    *,
    create_in: str | None = None,
    service_id: str = "",
    timeout_s: float,
) -> None:
    """Send a create (``create_in`` = parent) or a full update, and wait for the operation.

    An operation that ends in error because the revision did not become ready is a
    :class:`RevisionNotReadyError` (or :class:`QuotaExceededError` for quota texts).
    """
    if create_in is not None:
        operation = clients.call(
            action,
            clients.services.create_service,
            parent=create_in,
            service=service,
            service_id=service_id,
        )
    else:
        operation = clients.call(action, clients.services.update_service, service=service)
    try:
        clients.wait(action, operation, timeout_s)
    except QuotaExceededError:
        raise
    except GcpApiError as exc:
        if exc.status == "FAILED_PRECONDITION":
            raise RevisionNotReadyError(exc.message) from exc
        raise


def served_history(service: Any) -> list[str]:
    """Revisions that got 100 % through cutout, oldest first (our own annotation)."""
    text = str(service.annotations.get(HISTORY_ANNOTATION, ""))
    return [name for name in text.split(",") if name]


def set_traffic(
    clients: GcpClients,
    name: str,
    targets: Sequence[Any],
    *,
    timeout_s: float,
    poll_s: float,
    served: str | None = None,
    forget: str | None = None,
) -> Any:
    """Replace the traffic of a ready service and wait until it is routed.

    ``served``: the revision now taking all traffic, appended to the serving history
    (so rollback knows the previous revision that served, which Cloud Run does not keep);
    ``forget``: a revision to drop from it (one that failed its re-check).
    """
    action = f"move traffic of {name}"
    service = clients.call(action, clients.services.get_service, name=name)
    service.traffic = list(targets)
    if served is not None or forget is not None:
        history = [r for r in served_history(service) if r not in (served, forget)]
        history += [served] if served is not None else []
        service.annotations[HISTORY_ANNOTATION] = ",".join(history[-HISTORY_LENGTH:])
    run_update(clients, service, action, timeout_s=timeout_s)
    wanted = sorted((t.revision, int(t.percent)) for t in targets)
    return wait_routed(clients, name, wanted, timeout_s=timeout_s, poll_s=poll_s)


def wait_routed(
    clients: GcpClients,
    name: str,
    wanted: list[tuple[str, int]],
    *,
    timeout_s: float,
    poll_s: float,
) -> Any:
    """The service once its traffic statuses are ``wanted`` (revision, percent) pairs.

    A traffic-only change does not need the latest created revision to be ready (after a
    failed deploy it is not, and the service's Ready condition stays failed): what
    matters is that the change was observed and routed.
    """
    action = f"route traffic of {name}"
    deadline = time.monotonic() + timeout_s
    while True:
        service = clients.call(action, clients.services.get_service, name=name)
        routed = sorted((line.revision, line.percent) for line in traffic_lines(service))
        settled = not service.reconciling and service.observed_generation == service.generation
        if settled and routed == wanted:
            return service
        if settled or time.monotonic() >= deadline:
            raise DeployTimeoutError(
                f"{action}: traffic is {routed}, wanted {wanted}"
                + ("" if settled else f" (still reconciling after {timeout_s:g} s)")
            )
        time.sleep(poll_s)
