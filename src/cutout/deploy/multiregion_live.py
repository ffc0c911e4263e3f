"""Create what :mod:`cutout.deploy.multiregion` plans, with ``gcloud``.

Each region's service is replaced (``gcloud run services replace`` is idempotent by
itself). Each load balancer resource is described first and reused when it is there,
created otherwise, so a second run, or one after a run that stopped half-way, completes
the setup instead of failing on the first "already exists". Deciding by the describe's
exit status, not by the wording of a create error, keeps it independent of gcloud's
messages; a genuine error (permissions, quota, a bad flag) still stops the run at the
create that fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cutout.deploy.gcp import Gcloud
from cutout.deploy.multiregion import LbResource, MultiRegionSetup

__all__ = ["Outcome", "apply_multi_region", "ensure_load_balancer", "run_commands"]


@dataclass(frozen=True)
class Outcome:
    what: str
    action: Literal["created", "reused"]


def run_commands(commands: Sequence[Sequence[str]], gcloud: Gcloud | None = None) -> None:
    """Run each command in order; stop at the first failure."""
    gcloud = gcloud or Gcloud.create()
    for argv in commands:
        gcloud.run(argv)


def ensure_load_balancer(resources: Sequence[LbResource], gcloud: Gcloud) -> list[Outcome]:
    """Create each resource that is not there yet, in order; reuse the others."""
    outcomes = []
    for resource in resources:
        if resource.exists(gcloud.describe(resource.describe)):
            gcloud.echo(f"exists, reused: {resource.what}")
            outcomes.append(Outcome(resource.what, "reused"))
        else:
            gcloud.run(resource.create)
            outcomes.append(Outcome(resource.what, "created"))
    return outcomes


def apply_multi_region(
    setup: MultiRegionSetup, manifest_dir: str, gcloud: Gcloud | None = None
) -> list[Outcome]:
    """Replace the services from ``manifest_dir``, then complete the load balancer."""
    gcloud = gcloud or Gcloud.create()
    run_commands(setup.service_commands(manifest_dir), gcloud)
    return ensure_load_balancer(setup.load_balancer(), gcloud)
