"""``cutout deploy cleanup [--keep N] [--older-than D] [--yes]``: delete old revisions.

Never deleted, whatever the options: a revision with traffic (any percent, including
the one ``LATEST`` resolves to), a revision with a tag, the latest created and the
latest ready revision. Of the rest, the ``keep`` newest stay (rollback targets) and,
with ``older_than``, only revisions created longer ago than that are deleted. Without
``yes`` nothing is deleted: the report lists what would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cutout.deploy.gcp import GcpClients, revision_short, service_name
from cutout.errors import ConfigError

__all__ = ["CleanupReport", "cleanup", "parse_age", "protected_revisions"]

_LATEST = 1
_AGE = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``."""
    match = _AGE.match(text.strip())
    if match is None:
        raise ConfigError(f"--older-than {text!r}: use a number and d, h or m (e.g. 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class CleanupReport:
    service: str
    deleted: tuple[str, ...]
    would_delete: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]  # (revision, why)

    def lines(self) -> list[str]:
        out = [f"service {self.service}"]
        out += [f"  keep    {name}: {why}" for name, why in self.kept]
        out += [f"  delete  {name} (dry run: add --yes)" for name in self.would_delete]
        out += [f"  deleted {name}" for name in self.deleted]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "deleted": list(self.deleted),
            "would_delete": list(self.would_delete),
            "kept": [{"revision": n, "why": w} for n, w in self.kept],
        }


def protected_revisions(service: Any) -> dict[str, str]:
    """Short names that must never be deleted, with the reason."""
    latest_ready = revision_short(service.latest_ready_revision)
    reasons: dict[str, str] = {}

    def protect(name: str, why: str) -> None:
        if name:
            reasons.setdefault(name, why)

    for target in list(service.traffic) + list(service.traffic_statuses):
        name = latest_ready if int(target.type_) == _LATEST else target.revision
        if target.percent:
            protect(name, f"serves {target.percent}% of traffic")
        if target.tag:
            protect(name, f"tagged {target.tag!r}")
    protect(latest_ready, "latest ready revision")
    protect(revision_short(service.latest_created_revision), "latest created revision")
    return reasons


def cleanup(
    clients: GcpClients,
    project: str,
    region: str,
    service_id: str,
    *,
    keep: int = 3,
    older_than: timedelta | None = None,
    yes: bool = False,
    now: datetime | None = None,
    timeout_s: float = 300.0,
) -> CleanupReport:
    if keep < 0:
        raise ConfigError(f"--keep {keep}: must be 0 or more")
    name = service_name(project, region, service_id)
    service = clients.call(f"read {name}", clients.services.get_service, name=name)
    pager = clients.call(f"list revisions of {name}", clients.revisions.list_revisions, parent=name)
    revisions: list[Any] = clients.call(f"list revisions of {name}", list, pager)  # newest first
    protected = protected_revisions(service)
    moment = now or datetime.now(UTC)
    kept: list[tuple[str, str]] = []
    doomed: list[str] = []
    spare = 0
    for revision in revisions:
        short = revision_short(revision.name)
        if short in protected:
            kept.append((short, protected[short]))
            continue
        if spare < keep:
            spare += 1
            kept.append((short, f"one of the {keep} newest without traffic (--keep)"))
            continue
        created = revision.create_time
        if older_than is not None and moment - created < older_than:
            kept.append((short, f"younger than {older_than}"))
            continue
        doomed.append(short)
    deleted: list[str] = []
    if yes:
        for short in doomed:
            action = f"delete revision {short} of {name}"
            operation = clients.call(
                action, clients.revisions.delete_revision, name=f"{name}/revisions/{short}"
            )
            clients.wait(action, operation, timeout_s)
            deleted.append(short)
    return CleanupReport(name, tuple(deleted), () if yes else tuple(doomed), tuple(kept))
