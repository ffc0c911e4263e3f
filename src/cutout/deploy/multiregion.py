"""Several regions behind one global external Application Load Balancer: the plan.

Each region gets its own plan (GPU where its quota allows, else CPU) with min instances
at least 1 and a readiness probe, because Cloud Run's automatic failover needs service
health: readiness probes, at least 1 min instance per region and at least 2 regions; a
region is healthy while at least 60 % of its instances pass their readiness probes
(https://cloud.google.com/run/docs/configuring/configure-service-health). Outlier
detection has no gcloud flag; set it through the API or an import if wanted.

The load balancer is one serverless NEG per region, one backend service
(``EXTERNAL_MANAGED``, global), a URL map, a managed certificate, an HTTPS proxy, a
global address and a forwarding rule (https://cloud.google.com/run/docs/multiple-regions).
Each is an :class:`LbResource`: the gcloud command that creates it (what ``--dry-run``
prints) and the one that tells whether it exists. This module only plans; running the
commands is :mod:`cutout.deploy.multiregion_live`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.manifest import build_manifest, manifest_yaml
from cutout.deploy.plan import make_plan
from cutout.deploy.types import Candidate, Snapshot
from cutout.errors import ConfigError, DeployError

__all__ = [
    "FAILOVER_REQUIREMENTS",
    "LbResource",
    "MultiRegionSetup",
    "RegionChoice",
    "lb_commands",
    "lb_resources",
    "plan_multi_region",
]

FAILOVER_REQUIREMENTS = (
    "automatic failover needs Cloud Run service health in every region:",
    "  - a readiness probe on each revision (added: /ready every 10 s)",
    "  - min instances >= 1 in each region (set: its always-on cost is listed above)",
    "  - at least 2 regions; a region is healthy while >= 60 % of its instances pass",
    "  - outlier detection has no gcloud flag: set it by API or import if wanted",
)


@dataclass(frozen=True)
class RegionChoice:
    region: str
    candidate: Candidate | None
    problem: str | None = None


@dataclass
class MultiRegionSetup:
    config: DeployConfig
    domain: str
    choices: list[RegionChoice]
    manifests: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(choice.region for choice in self.choices)

    @property
    def always_on_per_day_usd(self) -> float:
        return round(sum(c.candidate.min_cost_per_day_usd for c in self.choices if c.candidate), 2)

    @property
    def max_per_day_usd(self) -> float:
        return round(sum(c.candidate.max_cost_per_day_usd for c in self.choices if c.candidate), 2)

    def service_commands(self, manifest_dir: str = ".") -> list[list[str]]:
        """``gcloud run services replace`` of each region's manifest (idempotent by itself)."""
        return [
            [
                "gcloud", "run", "services", "replace", f"{manifest_dir}/service-{region}.yaml",
                f"--region={region}", f"--project={self.config.project}",
            ]
            for region in self.regions
        ]  # fmt: skip

    def load_balancer(self) -> list[LbResource]:
        return lb_resources(self.config, self.regions, self.domain)

    def commands(self, manifest_dir: str = ".") -> list[list[str]]:
        """Every command, in order, as ``--dry-run`` prints them."""
        return self.service_commands(manifest_dir) + [
            list(resource.create) for resource in self.load_balancer()
        ]

    def report(self, manifest_dir: str = ".") -> str:
        lines = []
        for choice in self.choices:
            c = choice.candidate
            if c is None:
                lines.append(f"{choice.region}: {choice.problem}")
                continue
            kind = (
                f"{c.gpu_type} {'zonal' if c.gpu_zonal_redundancy else 'non-zonal'}"
                if c.kind == "gpu"
                else "CPU only"
            )
            lines.append(
                f"{choice.region}: {kind}, {c.min_instances}..{c.max_instances} instances, "
                f"{c.model}; always-on ${c.min_cost_per_day_usd:.2f}/day, up to "
                f"${c.max_cost_per_day_usd:.2f}/day"
            )
        lines.append(
            f"total: always-on ${self.always_on_per_day_usd:.2f}/day, ceiling "
            f"${self.max_per_day_usd:.2f}/day (load balancer charges not included)"
        )
        lines += FAILOVER_REQUIREMENTS
        lines += [f"problem: {p}" for p in self.problems]
        if self.ok:
            lines.append("")
            lines += [shlex.join(argv) for argv in self.commands(manifest_dir)]
        return "\n".join(lines) + "\n"

    def to_json(self, manifest_dir: str = ".") -> dict[str, Any]:
        return {
            "regions": [
                {
                    "region": c.region,
                    "candidate": None if c.candidate is None else c.candidate.to_json(),
                    "problem": c.problem,
                }
                for c in self.choices
            ],
            "always_on_per_day_usd": self.always_on_per_day_usd,
            "max_per_day_usd": self.max_per_day_usd,
            "requirements": list(FAILOVER_REQUIREMENTS[1:]),
            "problems": list(self.problems),
            "commands": [shlex.join(argv) for argv in self.commands(manifest_dir)]
            if self.ok
            else [],
        }


@dataclass(frozen=True)
class LbResource:
    """One piece of the load balancer: the gcloud command that creates it, and the one
    that shows whether it is there already (so a second run reuses it).

    A backend of the backend service is no resource of its own: it is there when the
    backend service's description lists ``backend_group`` (a suffix of the NEG's URL).
    """

    what: str  # "backend service cutout-backend", for the report
    create: tuple[str, ...]
    describe: tuple[str, ...]
    backend_group: str | None = None

    def exists(self, described: str | None) -> bool:
        """Whether ``described`` (the describe command's output; None if it failed) shows it.

        A failed describe reads as absent whatever the reason: creating it next either
        works or fails with gcloud's own words.
        """
        if described is None:
            return False
        if self.backend_group is None:
            return True
        try:
            backends = json.loads(described).get("backends") or []
            groups = [str(backend.get("group", "")) for backend in backends]
        except (ValueError, AttributeError) as exc:
            raise DeployError(f"{shlex.join(self.describe)}: not a backend service: {exc}") from exc
        return any(group.endswith(self.backend_group) for group in groups)


def _resource(
    collection: str, what: str, name: str, flags: tuple[str, ...], *, scope: str, project: str
) -> LbResource:
    """``gcloud compute COLLECTION create NAME FLAGS --project=P`` and its describe."""
    compute = ("gcloud", "compute", collection)
    return LbResource(
        what=f"{what} {name}",
        create=(*compute, "create", name, *flags, project),
        describe=(*compute, "describe", name, scope, "--format=json", project),
    )


def lb_resources(config: DeployConfig, regions: Sequence[str], domain: str) -> list[LbResource]:
    """The serverless NEGs and the global HTTPS load balancer, in the order they are made."""
    service, project = config.service, f"--project={config.project}"
    backend, url_map, cert = f"{service}-backend", f"{service}-url-map", f"{service}-cert"
    proxy, address, rule = f"{service}-https-proxy", f"{service}-ip", f"{service}-https-rule"
    glob = {"scope": "--global", "project": project}
    backend_service = _resource(
        "backend-services", "backend service", backend,
        ("--load-balancing-scheme=EXTERNAL_MANAGED", "--global"), **glob,
    )  # fmt: skip
    resources = [
        _resource(
            "network-endpoint-groups", "serverless NEG", f"{service}-neg-{region}",
            (f"--region={region}", "--network-endpoint-type=serverless",
             f"--cloud-run-service={service}"),
            scope=f"--region={region}", project=project,
        )
        for region in regions
    ]  # fmt: skip
    resources.append(backend_service)
    resources += [
        LbResource(
            what=f"backend {service}-neg-{region} of {backend}",
            create=(
                "gcloud", "compute", "backend-services", "add-backend", backend, "--global",
                f"--network-endpoint-group={service}-neg-{region}",
                f"--network-endpoint-group-region={region}", project,
            ),
            describe=backend_service.describe,
            backend_group=f"/regions/{region}/networkEndpointGroups/{service}-neg-{region}",
        )
        for region in regions
    ]  # fmt: skip
    resources += [
        _resource(
            "url-maps", "URL map", url_map, (f"--default-service={backend}", "--global"), **glob
        ),
        _resource(
            "ssl-certificates", "managed certificate", cert,
            (f"--domains={domain}", "--global"), **glob,
        ),
        _resource(
            "target-https-proxies", "HTTPS proxy", proxy,
            (f"--url-map={url_map}", f"--ssl-certificates={cert}", "--global"), **glob,
        ),
        _resource(
            "addresses", "global address", address,
            ("--ip-version=IPV4", "--network-tier=PREMIUM", "--global"), **glob,
        ),
        _resource(
            "forwarding-rules", "forwarding rule", rule,
            ("--load-balancing-scheme=EXTERNAL_MANAGED", "--network-tier=PREMIUM",
             f"--address={address}", f"--target-https-proxy={proxy}", "--global", "--ports=443"),
            **glob,
        ),
    ]  # fmt: skip
    return resources


def lb_commands(config: DeployConfig, regions: Sequence[str], domain: str) -> list[list[str]]:
    """The gcloud commands that create the serverless NEGs and the global HTTPS LB."""
    return [list(resource.create) for resource in lb_resources(config, regions, domain)]


def _with_min_one(config: DeployConfig, region: str) -> DeployConfig:
    gpu = replace(config.gpu, min_instances=max(1, config.gpu.min_instances))
    cpu = replace(config.cpu, min_instances=max(1, config.cpu.min_instances))
    return replace(config, regions=(region,), gpu=gpu, cpu=cpu)


def plan_multi_region(
    config: DeployConfig, snapshot: Snapshot, regions: Sequence[str], domain: str
) -> MultiRegionSetup:
    """One plan per region (min instances >= 1), manifests with readiness probes, LB commands."""
    if not domain or "." not in domain or " " in domain:
        raise ConfigError(f"--domain {domain!r}: a domain name like cutout.example.com")
    if len(set(regions)) != len(regions):
        raise ConfigError(f"--regions lists a region twice: {', '.join(regions)}")
    setup = MultiRegionSetup(config=config, domain=domain, choices=[])
    if len(regions) < 2:
        setup.problems.append(
            f"automatic failover needs at least 2 regions, got {len(regions)} "
            f"({', '.join(regions) or 'none'})"
        )
    for region in regions:
        regional = _with_min_one(config, region)
        plan = make_plan(regional, snapshot.limits, snapshot.usage)
        if plan.chosen is None:
            problem = f"nothing fits in {region}: {plan.requests[0] if plan.requests else ''}"
            setup.choices.append(RegionChoice(region, None, problem))
            setup.problems.append(problem)
            continue
        setup.choices.append(RegionChoice(region, plan.chosen))
        setup.manifests[region] = manifest_yaml(
            build_manifest(regional, plan.chosen, readiness_probe=True)
        )
    # Each region's plan fits the budget alone; together they may not.
    budget = config.daily_budget_usd
    if budget is not None and setup.max_per_day_usd > budget:
        setup.problems.append(
            f"together the regions cost up to ${setup.max_per_day_usd:.2f}/day, over the "
            f"budget ${budget:.2f}/day: raise daily_budget_usd, lower max_instances or use "
            "fewer regions"
        )
    return setup
