"""Cloud Run deployment tooling that keeps shipping when GPU quota runs out.

Planning half (pure, offline-testable): :mod:`~cutout.deploy.config` (cutout-deploy.toml),
:mod:`~cutout.deploy.quotas` (Cloud Quotas limits, usage from ListServices),
:mod:`~cutout.deploy.prices` and :mod:`~cutout.deploy.cost`, :mod:`~cutout.deploy.plan`
(the fallback ladder), :mod:`~cutout.deploy.manifest` (Knative YAML),
:mod:`~cutout.deploy.multiregion` and :mod:`~cutout.deploy.alerts`.
Shared records live in :mod:`cutout.deploy.types`. Nothing is imported here, so
``import cutout.deploy`` stays free of the Google clients.
"""

from __future__ import annotations

__all__: list[str] = []
