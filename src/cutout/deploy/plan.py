"""The planner: a pure function from quotas, usage, config and prices to ranked candidates.

The ladder, in order (the first candidate that fits the quota AND the budget is chosen):

1. each region in the config's order that offers Cloud Run L4 GPUs:
   a. GPU with zonal redundancy at the wanted max instances,
   b. GPU without zonal redundancy at the wanted max instances (separate, cheaper quota),
   c. GPU with fewer max instances: the most that fit quota and budget, down to
      ``fewest_max_instances`` (whichever zonal setting allows more; zonal on a tie);
   regions that do not offer L4 (us-west1, us-east1, ...) are listed as not fitting;
2. each region in order: a CPU-only revision (``--gpu=0``: no GPU limit, no accelerator,
   no zonal setting) on the CPU model, at the wanted max instances, else at the most
   that fit the CPU and memory quota and the budget;
3. nothing fits: :attr:`Plan.requests` says which quota blocks by how much and what to
   request (the limit to ask for is what other services use plus what this one needs).

Admission counts max instances x per-instance GPU, CPU and memory, whatever min
instances is, so every check here is on max instances.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutout.deploy.config import DeployConfig, KindConfig
from cutout.deploy.cost import cost_of, instance_cost_per_hour, instances_within_budget
from cutout.deploy.prices import CURRENT, PriceTable, prices_for_tier
from cutout.deploy.types import (
    CPU_QUOTA,
    L4_NO_ZONAL_QUOTA,
    L4_ZONAL_QUOTA,
    MEMORY_QUOTA,
    QUOTA_IDS,
    Candidate,
    Kind,
    Plan,
    QuotaLimits,
    QuotaUse,
    RegionUsage,
    Shortfall,
    Step,
)

__all__ = [
    "L4_REGIONS",
    "CandidateBuilder",
    "fit_count",
    "make_plan",
    "offers_l4",
    "quota_uses",
    "request_text",
]

# Regions with Cloud Run L4 GPUs (https://cloud.google.com/run/docs/configuring/services/gpu,
# read 2026-08). us-central1 may be invitation-only for new projects and asia-south1 is by
# invitation: quota decides there. NOT us-west1/us-east1.
L4_REGIONS: frozenset[str] = frozenset(
    {"asia-southeast1", "europe-west1", "europe-west4", "us-east4", "us-central1", "asia-south1"}
)


def offers_l4(region: str) -> bool:
    return region in L4_REGIONS


def _per_instance(kind: Kind, zonal: bool | None, resources: KindConfig) -> dict[str, int]:
    """Quota id -> amount one instance takes."""
    needs: dict[str, int] = {}
    if kind == "gpu":
        needs[L4_ZONAL_QUOTA if zonal else L4_NO_ZONAL_QUOTA] = 1
    needs[CPU_QUOTA] = resources.cpu_milli
    needs[MEMORY_QUOTA] = resources.memory_bytes
    return needs


def fit_count(needs: Mapping[str, int], limits: QuotaLimits, usage: RegionUsage) -> int | None:
    """The most instances that fit every quota (None = unlimited)."""
    best: int | None = None
    for quota_id, amount in needs.items():
        limit = limits.limit(quota_id)
        if limit is None or amount == 0:
            continue
        room = max(0, limit - usage.used(quota_id)) // amount
        best = room if best is None else min(best, room)
    return best


def quota_uses(limits: QuotaLimits, usage: RegionUsage) -> tuple[QuotaUse, ...]:
    """Each quota's use in one region, from the same limits and usage the plan weighs
    (``deploy status`` shows them; ``--check-quota`` alerts on them)."""
    return tuple(
        QuotaUse(quota_id, limits.region, usage.used(quota_id), limits.limit(quota_id))
        for quota_id in QUOTA_IDS
    )


def _shortfalls(
    needs: Mapping[str, int], instances: int, limits: QuotaLimits, usage: RegionUsage
) -> tuple[Shortfall, ...]:
    found = []
    for quota_id, amount in needs.items():
        limit = limits.limit(quota_id)
        used = usage.used(quota_id)
        if limit is not None and used + amount * instances > limit:
            found.append(
                Shortfall(quota_id, limits.region, used, amount * instances, allowed=limit)
            )
    return tuple(found)


class CandidateBuilder:
    """Builds candidates for one config, price table, limits and usage.

    The job planner (:mod:`cutout.deploy.job_plan`) uses it too, with a job's tasks as
    the instances: admission counts parallelism x per-task resources the same way.
    """

    def __init__(
        self,
        config: DeployConfig,
        limits: Mapping[str, QuotaLimits],
        usage: Mapping[str, RegionUsage],
        prices: PriceTable,
        *,
        what: str = "revision",
    ) -> None:
        self.config = config
        self.limits = limits
        self.usage = usage
        self.prices = prices_for_tier(prices, config.price_tier)
        self.what = what  # what the reasons say needs the quota

    def region_inputs(self, region: str) -> tuple[QuotaLimits, RegionUsage]:
        limits = self.limits.get(region, QuotaLimits(region=region))
        return limits, self.usage.get(region, RegionUsage(region=region))

    def per_hour(self, kind: Kind, zonal: bool | None) -> float:
        resources = self.config.gpu if kind == "gpu" else self.config.cpu
        return instance_cost_per_hour(
            gpus=1 if kind == "gpu" else 0,
            zonal_redundancy=bool(zonal),
            cpu_milli=resources.cpu_milli,
            memory_bytes=resources.memory_bytes,
            prices=self.prices,
        )

    def most_instances(self, kind: Kind, zonal: bool | None, region: str) -> int:
        """The most max instances that fit quota and budget, capped at the wanted number."""
        resources = self.config.gpu if kind == "gpu" else self.config.cpu
        limits, usage = self.region_inputs(region)
        caps = [
            resources.max_instances,
            fit_count(_per_instance(kind, zonal, resources), limits, usage),
            instances_within_budget(self.per_hour(kind, zonal), self.config.daily_budget_usd),
        ]
        return min(cap for cap in caps if cap is not None)

    def candidate(
        self,
        kind: Kind,
        step: Step,
        region: str,
        zonal: bool | None,
        instances: int,
        *,
        offered: bool = True,
    ) -> Candidate:
        resources = self.config.gpu if kind == "gpu" else self.config.cpu
        limits, usage = self.region_inputs(region)
        shortfalls = (
            _shortfalls(_per_instance(kind, zonal, resources), instances, limits, usage)
            if offered
            else ()
        )
        cost = cost_of(
            self.per_hour(kind, zonal),
            instances,
            resources.min_instances,
            self.config.daily_budget_usd,
        )
        fits = offered and not shortfalls
        if not offered:
            reason = f"{region} does not offer Cloud Run {self.config.gpu_type} GPUs"
        elif shortfalls:
            reason = "blocked: " + "; ".join(s.describe(self.what) for s in shortfalls)
        elif not cost.within_budget:
            reason = (
                f"fits quota but its daily ceiling ${cost.max_per_day_usd:.2f} is over the "
                f"budget ${self.config.daily_budget_usd:.2f}"
            )
        else:
            reason = "fits quota" + (" and budget" if self.config.daily_budget_usd else "")
        return Candidate(
            kind=kind,
            step=step,
            region=region,
            gpu_type=self.config.gpu_type if kind == "gpu" else None,
            gpu_zonal_redundancy=zonal if kind == "gpu" else None,
            max_instances=instances,
            min_instances=resources.min_instances,
            cpu_milli=resources.cpu_milli,
            memory_bytes=resources.memory_bytes,
            concurrency=resources.concurrency,
            model=resources.model,
            fits=fits,
            blocked_by=shortfalls[0].quota_id if shortfalls else None,
            shortfalls=shortfalls,
            reason=reason,
            cost_per_hour_usd=round(cost.per_hour_usd, 4),
            max_cost_per_day_usd=round(cost.max_per_day_usd, 2),
            min_cost_per_day_usd=round(cost.min_per_day_usd, 2),
            within_budget=cost.within_budget,
            prices_as_of=self.prices.as_of,
            image=resources.image,
        )

    def gpu_candidates(self, region: str) -> list[Candidate]:
        config = self.config
        wanted = config.gpu.max_instances
        settings = [True, False] if config.prefer_zonal_redundancy else [False]
        if not offers_l4(region):
            return [self.candidate("gpu", "gpu-zonal", region, settings[0], wanted, offered=False)]
        found = [
            self.candidate("gpu", "gpu-zonal" if zonal else "gpu-no-zonal", region, zonal, wanted)
            for zonal in settings
        ]
        fewest = max(config.fewest_max_instances, config.gpu.min_instances, 1)
        fewer = [(self.most_instances("gpu", zonal, region), zonal) for zonal in settings]
        # Most instances first; on a tie the zonal-redundant one (listed first) wins.
        fewer.sort(key=lambda pair: -pair[0])
        found += [
            self.candidate("gpu", "gpu-fewer", region, zonal, count)
            for count, zonal in fewer
            if fewest <= count < wanted
        ]
        return found

    def cpu_candidates(self, region: str) -> list[Candidate]:
        wanted = self.config.cpu.max_instances
        found = [self.candidate("cpu", "cpu", region, None, wanted)]
        count = self.most_instances("cpu", None, region)
        if max(1, self.config.cpu.min_instances) <= count < wanted:
            found.append(self.candidate("cpu", "cpu", region, None, count))
        return found


def _requests(config: DeployConfig, candidates: tuple[Candidate, ...]) -> tuple[str, ...]:
    """What to ask for when nothing is usable: one line per way out, preferred first.

    The GPU options are those of the first region that offers L4; the CPU option is the
    first region's CPU revision at the wanted max instances.
    """
    lines: list[str] = []
    wanted_gpu = [
        c for c in candidates if c.kind == "gpu" and c.step != "gpu-fewer" and offers_l4(c.region)
    ]
    if wanted_gpu:
        first_region = wanted_gpu[0].region
        options = [c for c in wanted_gpu if c.region == first_region and c.shortfalls]
    else:
        options = []
        lines.append(
            f"none of the regions {', '.join(config.regions)} offers Cloud Run "
            f"{config.gpu_type} GPUs; add one of {', '.join(sorted(L4_REGIONS))}"
        )
    cpu_wanted = next((c for c in candidates if c.kind == "cpu"), None)
    if cpu_wanted is not None and cpu_wanted.shortfalls:
        options.append(cpu_wanted)
    for option in options:
        what = (
            f"{option.kind} {'with' if option.gpu_zonal_redundancy else 'without'} zonal redundancy"
            if option.kind == "gpu"
            else "cpu-only"
        )
        asks = "; ".join(request_text(config, s) for s in option.shortfalls)
        lines.append(f"{what} in {option.region} at {option.max_instances} max instances: {asks}")
    over_budget = [c for c in candidates if c.fits and not c.within_budget]
    if over_budget:
        cheapest = min(over_budget, key=lambda c: c.max_cost_per_day_usd)
        lines.append(
            f"budget: {cheapest.kind} in {cheapest.region} at {cheapest.max_instances} max "
            f"instances fits quota but costs up to ${cheapest.max_cost_per_day_usd:.2f}/day; "
            f"raise daily_budget_usd (now ${config.daily_budget_usd:.2f}) or lower max_instances"
        )
    return tuple(lines)


def request_text(config: DeployConfig, shortfall: Shortfall, what: str = "revision") -> str:
    """One shortfall and how to ask for the quota it lacks (``what`` needs it)."""
    line = shortfall.describe(what)
    if shortfall.quota_id in (L4_ZONAL_QUOTA, L4_NO_ZONAL_QUOTA):
        flag = " --no-zonal-redundancy" if shortfall.quota_id == L4_NO_ZONAL_QUOTA else ""
        return (
            f"{line} -> cutout deploy quota request --region {shortfall.region} "
            f"--gpus {shortfall.needed}{flag} --email YOU@EXAMPLE.COM"
        )
    return (
        f"{line} -> a QuotaPreference for {shortfall.quota_id} (service run.googleapis.com, "
        f"project {config.project}, region {shortfall.region}, preferred value "
        f"{shortfall.needed})"
    )


def make_plan(
    config: DeployConfig,
    limits: Mapping[str, QuotaLimits],
    usage: Mapping[str, RegionUsage],
    prices: PriceTable = CURRENT,
) -> Plan:
    """Rank every candidate and choose the first that fits quota and budget.

    ``usage`` must already leave out the service being replaced
    (:func:`cutout.deploy.quotas.usage_in_region` does). Regions missing from ``limits``
    have no quota; regions missing from ``usage`` have nothing running.
    """
    builder = CandidateBuilder(config, limits, usage, prices)
    ladder: list[Candidate] = []
    for region in config.regions:
        ladder += builder.gpu_candidates(region)
    if config.cpu_fallback:
        for region in config.regions:
            ladder += builder.cpu_candidates(region)
    candidates = tuple(ladder)
    chosen = next((c for c in candidates if c.usable), None)
    requests = () if chosen is not None else _requests(config, candidates)
    return Plan(chosen=chosen, candidates=candidates, requests=requests)
