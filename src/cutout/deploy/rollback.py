"""``cutout deploy rollback [--to REVISION]``: all traffic back to a revision that works.

Rollback is 100 % to a named revision
(https://cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration). Without
``--to`` the target is the previous revision that served: Cloud Run keeps no traffic
history, so apply records the revisions it moved all traffic to in the service
annotation ``cutout.dev/served-revisions``; when that is missing (a service deployed by other
means), the newest ready revision created before the one serving now is used. The
target must exist and be ready; tags at 0 % keep their URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cutout.deploy.gcp import GcpClients, revision_short, service_name
from cutout.deploy.rollout import (
    SUCCEEDED,
    TrafficLine,
    served_history,
    set_traffic,
    traffic_lines,
)
from cutout.deploy.service_spec import traffic_to
from cutout.errors import DeployError

__all__ = ["RollbackReport", "rollback", "rollback_target"]

_REVISION = 2


@dataclass(frozen=True)
class RollbackReport:
    service: str
    from_revisions: tuple[str, ...]
    to_revision: str
    traffic: tuple[TrafficLine, ...]

    def lines(self) -> list[str]:
        was = ", ".join(self.from_revisions) or "nothing"
        now = ", ".join(f"{t.revision} {t.percent}%" for t in self.traffic if t.percent)
        return [f"{self.service}: rolled back from {was} to {self.to_revision}", f"traffic: {now}"]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "from": list(self.from_revisions),
            "to": self.to_revision,
            "traffic": [t.to_json() for t in self.traffic],
        }


def _ready(revision: Any) -> bool:
    return (
        any(c.type_ == "Ready" and int(c.state) == SUCCEEDED for c in revision.conditions)
        and not revision.reconciling
    )


def rollback_target(service: Any, revisions: list[Any], to: str | None) -> str:
    """The short name of the revision to send all traffic to (see the module docstring)."""
    by_short = {revision_short(r.name): r for r in revisions}
    serving = [t.revision for t in traffic_lines(service) if t.percent > 0]
    if to is not None:
        target = revision_short(to)
        if target not in by_short:
            known = ", ".join(list(by_short)[:5])
            raise DeployError(f"{service.name}: no revision {target!r} (newest: {known})")
        if not _ready(by_short[target]):
            raise DeployError(f"{service.name}: revision {target} is not ready; pick another")
        return target
    history = [r for r in served_history(service) if r in by_short]
    for candidate in reversed(history):
        if candidate not in serving and _ready(by_short[candidate]):
            return candidate
    # revisions are listed newest first: the first ready one older than what serves now
    newest_serving = max((by_short[s].create_time for s in serving if s in by_short), default=None)
    for revision in revisions:
        short = revision_short(revision.name)
        if short in serving or not _ready(revision):
            continue
        if newest_serving is None or revision.create_time < newest_serving:
            return short
    raise DeployError(f"{service.name}: no earlier ready revision to roll back to")


def rollback(
    clients: GcpClients,
    project: str,
    region: str,
    service_id: str,
    *,
    to: str | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 2.0,
) -> RollbackReport:
    name = service_name(project, region, service_id)
    service = clients.call(f"read {name}", clients.services.get_service, name=name)
    pager = clients.call(f"list revisions of {name}", clients.revisions.list_revisions, parent=name)
    revisions: list[Any] = clients.call(f"list revisions of {name}", list, pager)
    target = rollback_target(service, revisions, to)
    before = tuple(t.revision for t in traffic_lines(service) if t.percent > 0)
    # keep 0 % tags (their URLs), drop everything else
    targets = traffic_to(target)
    from google.cloud import run_v2

    for line in service.traffic:
        if line.tag and line.percent == 0 and line.revision and line.revision != target:
            targets.append(
                run_v2.TrafficTarget(type_=_REVISION, revision=line.revision, tag=line.tag)
            )
    after = set_traffic(clients, name, targets, timeout_s=timeout_s, poll_s=poll_s, served=target)
    return RollbackReport(name, before, target, traffic_lines(after))
