"""Cloud Run deployment tooling that keeps shipping when GPU quota runs out.

Three layers, imports running one way (``tests/deploy/test_layers.py`` keeps them):

* planners, pure and offline-testable, no Google library: :mod:`~cutout.deploy.config`
  (cutout-deploy.toml), :mod:`~cutout.deploy.types` and :mod:`~cutout.deploy.units`,
  :mod:`~cutout.deploy.prices` and :mod:`~cutout.deploy.cost`, :mod:`~cutout.deploy.plan`
  (the fallback ladder), :mod:`~cutout.deploy.manifest` (Knative YAML),
  :mod:`~cutout.deploy.multiregion` (per-region plans, the load balancer's commands),
  :mod:`~cutout.deploy.job_config` and :mod:`~cutout.deploy.job_plan` (Cloud Run Jobs);
* message modules, pure too, using Google's message classes as data:
  :mod:`~cutout.deploy.quotas` (limits and usage from QuotaInfo / Service),
  :mod:`~cutout.deploy.snapshot` (saved responses), :mod:`~cutout.deploy.service_spec`
  (the Run v2 request), :mod:`~cutout.deploy.alerts` (AlertPolicy objects),
  :mod:`~cutout.deploy.job_spec` (the Run v2 Job);
* live: :mod:`~cutout.deploy.gcp` (every client and the gcloud command line: the one
  boundary) with :mod:`~cutout.deploy.errors`, and what runs through it: ``live``,
  ``apply``, ``rollout``, ``rollback``, ``status``, ``cleanup``, ``quota_request``,
  ``alerts_live``, ``multiregion_live``, ``job_live``, ``job_status``; ``verify``
  smoke-tests the deployed service.

Nothing is imported here, so ``import cutout.deploy`` stays free of the Google clients.
"""

from __future__ import annotations

__all__: list[str] = []
