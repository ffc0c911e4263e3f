"""Several regions behind one global external Application Load Balancer.

Each region gets its own plan (GPU where its quota allows, else CPU) with min instances
at least 1 and a readiness probe, because Cloud Run's automatic failover needs service
health: readiness probes, at least 1 min instance per region and at least 2 regions (a
region is healthy while at least 60 % of its instances pass). Outlier detection has no
gcloud flag; set it through the API or an import if wanted.

The load balancer is one serverless NEG per region, one backend service
(``EXTERNAL_MANAGED``, global), a URL map, a managed certificate, an HTTPS proxy, a
global address and a forwarding rule, created with the gcloud commands below (printed by
``--dry-run``, run one by one otherwise).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
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
    "MultiRegionSetup",
    "RegionChoice",
    "lb_commands",
    "plan_multi_region",
    "run_commands",
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

    def commands(self, manifest_dir: str = ".") -> list[list[str]]:
        deploys = [
            [
                "gcloud", "run", "services", "replace", f"{manifest_dir}/service-{region}.yaml",
                f"--region={region}", f"--project={self.config.project}",
            ]
            for region in self.regions
        ]  # fmt: skip
        return deploys + lb_commands(self.config, self.regions, self.domain)

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


def lb_commands(config: DeployConfig, regions: Sequence[str], domain: str) -> list[list[str]]:
    """The gcloud commands for the serverless NEGs and the global HTTPS load balancer."""
    service, project = config.service, f"--project={config.project}"
    backend, url_map, cert = f"{service}-backend", f"{service}-url-map", f"{service}-cert"
    proxy, address, rule = f"{service}-https-proxy", f"{service}-ip", f"{service}-https-rule"
    commands = [
        [
            "gcloud", "compute", "network-endpoint-groups", "create", f"{service}-neg-{region}",
            f"--region={region}", "--network-endpoint-type=serverless",
            f"--cloud-run-service={service}", project,
        ]
        for region in regions
    ]  # fmt: skip
    commands.append(
        [
            "gcloud", "compute", "backend-services", "create", backend,
            "--load-balancing-scheme=EXTERNAL_MANAGED", "--global", project,
        ]
    )  # fmt: skip
    commands += [
        [
            "gcloud", "compute", "backend-services", "add-backend", backend, "--global",
            f"--network-endpoint-group={service}-neg-{region}",
            f"--network-endpoint-group-region={region}", project,
        ]
        for region in regions
    ]  # fmt: skip
    commands += [
        [
            "gcloud", "compute", "url-maps", "create", url_map,
            f"--default-service={backend}", "--global", project,
        ],
        [
            "gcloud", "compute", "ssl-certificates", "create", cert,
            f"--domains={domain}", "--global", project,
        ],
        [
            "gcloud", "compute", "target-https-proxies", "create", proxy,
            f"--url-map={url_map}", f"--ssl-certificates={cert}", "--global", project,
        ],
        [
            "gcloud", "compute", "addresses", "create", address,
            "--ip-version=IPV4", "--network-tier=PREMIUM", "--global", project,
        ],
        [
            "gcloud", "compute", "forwarding-rules", "create", rule,
            "--load-balancing-scheme=EXTERNAL_MANAGED", "--network-tier=PREMIUM",
            f"--address={address}", f"--target-https-proxy={proxy}", "--global",
            "--ports=443", project,
        ],
    ]  # fmt: skip
    return commands


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


def run_commands(commands: Sequence[Sequence[str]]) -> None:
    """Run each command in order; stop at the first failure."""
    if shutil.which("gcloud") is None:
        raise DeployError(
            "gcloud is not on PATH: run with --dry-run and run the printed commands elsewhere"
        )
    for argv in commands:
        print(f"$ {shlex.join(argv)}", flush=True)
        try:
            done = subprocess.run(list(argv), check=False)
        except OSError as exc:
            raise DeployError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            raise DeployError(f"exit {done.returncode}: {shlex.join(argv)}")
