"""Create the alert policies :mod:`cutout.deploy.alerts` builds, in Cloud Monitoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cutout.deploy.gcp import alert_policy_client, call

if TYPE_CHECKING:
    from google.cloud.monitoring_v3 import AlertPolicy

__all__ = ["create_policies"]


def create_policies(
    project: str, policies: Sequence[AlertPolicy], *, endpoint: str | None = None
) -> list[str]:
    """Create each policy with ``AlertPolicyServiceClient``; return their names.

    ``endpoint`` (``host:port``) points the client at a local server (tests, emulators).
    """
    action = f"create alert policies in {project}"
    client = call(action, alert_policy_client, endpoint)
    try:
        return [
            str(
                call(
                    action,
                    client.create_alert_policy,
                    name=f"projects/{project}",
                    alert_policy=policy,
                ).name
            )
            for policy in policies
        ]
    finally:
        client.transport.close()
