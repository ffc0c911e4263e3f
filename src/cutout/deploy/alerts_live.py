"""Create or update the alert policies :mod:`cutout.deploy.alerts` builds, in Cloud Monitoring.

Running ``cutout deploy alerts`` twice leaves one policy of each kind: the project's
policies are listed once, and a policy that :func:`cutout.deploy.alerts.matching_policies`
finds is replaced in place (``UpdateAlertPolicy`` without a mask replaces the whole
policy, keeping its name and incidents); only the others are created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cutout.deploy.alerts import matching_policies
from cutout.deploy.gcp import alert_policy_client, call

if TYPE_CHECKING:
    from google.cloud.monitoring_v3 import AlertPolicy

__all__ = ["PolicyChange", "upsert_policies"]


@dataclass(frozen=True)
class PolicyChange:
    action: Literal["created", "updated"]
    name: str  # projects/P/alertPolicies/ID
    display_name: str
    # older copies that also match (left alone: delete them by hand)
    duplicates: tuple[str, ...] = ()

    def line(self) -> str:
        text = f"{self.action} {self.name} ({self.display_name})"
        if self.duplicates:
            text += f"; also matching, left alone: {', '.join(self.duplicates)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "display_name": self.display_name,
            "duplicates": list(self.duplicates),
        }


def upsert_policies(
    project: str, policies: Sequence[AlertPolicy], *, endpoint: str | None = None
) -> list[PolicyChange]:
    """Update each policy that already exists (see the module docstring), create the rest.

    ``endpoint`` (``host:port``) points the client at a local server (tests, emulators).
    """
    from google.cloud import monitoring_v3

    parent = f"projects/{project}"
    action = f"create or update alert policies in {project}"
    client = call(action, alert_policy_client, endpoint)
    try:
        pager = call(action, client.list_alert_policies, name=parent)
        existing: list[AlertPolicy] = call(action, list, pager)
        changes = []
        for policy in policies:
            found = matching_policies(existing, policy)
            if not found:
                created = call(action, client.create_alert_policy, name=parent, alert_policy=policy)
                changes.append(PolicyChange("created", str(created.name), policy.display_name))
                continue
            replacement = monitoring_v3.AlertPolicy(policy)
            replacement.name = found[0].name
            updated = call(action, client.update_alert_policy, alert_policy=replacement)
            changes.append(
                PolicyChange(
                    "updated",
                    str(updated.name),
                    policy.display_name,
                    tuple(str(p.name) for p in found[1:]),
                )
            )
        return changes
    finally:
        client.transport.close()
