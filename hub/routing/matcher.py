"""Matching a job to machines: hard checks, then ranking, every decision explainable.

Ranking points (lower is better), each part returned:
  distance   = weight_km * km to the maker (great circle)
  lead_time  = weight_lead_hour * estimated hours (queue ahead + print)
  price      = weight_price * total price
  fairness   = weight_fairness * the lab's excess over its fair share of recent jobs

All parts are >= 0, so `weight_km * distance` is a lower bound of a lab's score: `match` walks
labs nearest first and stops once that bound exceeds the worst of the best `top` found. It
returns exactly what `match_naive` (a full scan, the benchmark's baseline and the tests'
oracle) returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.routing.checks import lab_checks, machine_checks
from hub.routing.fairness import FairnessLedger, excess_ratio
from hub.routing.geo import haversine_km
from hub.routing.pricing import PriceBreakdown, estimate_lead_time_h, price
from hub.routing.registry import LabRegistry
from hub.routing.snapshots import Check, JobSpec, LabView

SUMMARY_LIMIT = 10
TRANSIENT_CHECKS = frozenset({"online", "queue", "open"})
"""Checks that may pass later without anyone changing anything: a lab back online, a queue
drained, a lab opening. A job that fails only these waits instead of failing."""


@dataclass(frozen=True, slots=True)
class Weights:
    km: float = 1.0
    lead_hour: float = 0.5
    price: float = 0.2
    fairness: float = 10.0
    designer_share: float = 0.10
    coop_fee: float = 0.05


@dataclass(frozen=True, slots=True)
class ScoreParts:
    distance: float
    lead_time: float
    price: float
    fairness: float

    @property
    def total(self) -> float:
        return self.distance + self.lead_time + self.price + self.fairness

    def as_dict(self) -> dict[str, float]:
        return {
            "distance": round(self.distance, 4),
            "lead_time": round(self.lead_time, 4),
            "price": round(self.price, 4),
            "fairness": round(self.fairness, 4),
            "total": round(self.total, 4),
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    node_id: str
    machine_id: str
    distance_km: float
    lead_time_h: float
    price: PriceBreakdown
    score: ScoreParts
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "machine_id": self.machine_id,
            "distance_km": round(self.distance_km, 3),
            "lead_time_h": round(self.lead_time_h, 2),
            "price": self.price.as_dict(),
            "score": self.score.as_dict(),
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass
class MatchResult:
    ranked: list[Candidate] = field(default_factory=list)
    rejected: dict[str, tuple[Check, ...]] = field(default_factory=dict)
    """Evaluated labs with no capable machine: every check of their closest-to-capable machine."""
    evaluated_labs: int = 0
    total_labs: int = 0

    def explain(self) -> str:
        """One line for the maker: why each evaluated lab could not take the job (summarised when many)."""
        reasons = self.rejection_reasons()
        if len(reasons) <= SUMMARY_LIMIT:
            return "; ".join(f"{node}: {why}" for node, why in sorted(reasons.items()))
        counts: dict[str, int] = {}
        for checks in self.rejected.values():
            for check in checks:
                if not check.passed:
                    counts[check.name] = counts.get(check.name, 0) + 1
        return f"{len(reasons)} labs cannot: " + ", ".join(
            f"{n} failed {name}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
        )

    def may_succeed_later(self) -> bool:
        """Whether some lab failed only checks that can pass by themselves later."""
        return any(
            checks and all(c.passed or c.name in TRANSIENT_CHECKS for c in checks) for checks in self.rejected.values()
        )

    def rejection_reasons(self) -> dict[str, str]:
        return {node: "; ".join(c.reason for c in checks if not c.passed) for node, checks in self.rejected.items()}


def _evaluate(
    lab: LabView, distance_km: float, spec: JobSpec, *, weights: Weights, fairness_excess: float, now: datetime
) -> tuple[Candidate | None, tuple[Check, ...]]:
    """The lab's best capable machine as a candidate, or None with the checks that failed."""
    base = lab_checks(lab, spec, now)
    best: Candidate | None = None
    closest: tuple[Check, ...] = ()
    for machine in lab.machines:
        checks = tuple(base + machine_checks(machine, spec))
        if all(c.passed for c in checks):
            lead = estimate_lead_time_h(spec, machine)
            quote = price(spec, lab, machine, designer_share=weights.designer_share, coop_fee=weights.coop_fee)
            score = ScoreParts(
                weights.km * distance_km,
                weights.lead_hour * lead,
                weights.price * quote.total,
                weights.fairness * fairness_excess,
            )
            candidate = Candidate(lab.node_id, machine.machine_id, distance_km, lead, quote, score, checks)
            if best is None or (score.total, machine.machine_id) < (best.score.total, best.machine_id):
                best = candidate
        elif not closest or sum(not c.passed for c in checks) < sum(not c.passed for c in closest):
            closest = checks
    if best is None and not lab.machines:
        closest = (*base, Check("machines", False, "no machines registered"))
    return best, closest


def _rank_key(candidate: Candidate) -> tuple[float, str, str]:
    return (candidate.score.total, candidate.node_id, candidate.machine_id)


@dataclass(frozen=True, slots=True)
class _Round:
    """One match's fixed inputs: the job, the weights, the labs to skip, the time and the
    fairness counts, read once."""

    spec: JobSpec
    weights: Weights
    exclude: frozenset[str] | set[str]
    now: datetime
    counts: Mapping[str, int]
    total_jobs: int
    active_labs: int

    @classmethod
    def start(
        cls,
        registry: LabRegistry,
        spec: JobSpec,
        *,
        weights: Weights,
        fairness: FairnessLedger,
        exclude: frozenset[str] | set[str],
        now: datetime | None,
    ) -> _Round:
        counts, total_jobs = fairness.snapshot()
        return cls(spec, weights, exclude, now or datetime.now(UTC), counts, total_jobs, registry.active_count())

    def consider(self, result: MatchResult, lab: LabView, distance_km: float) -> Candidate | None:
        """Evaluate one lab: its candidate, or None with its reasons recorded in `result`."""
        result.evaluated_labs += 1
        if lab.node_id in self.exclude:
            result.rejected[lab.node_id] = (Check("not_declined", False, "already declined this job"),)
            return None
        excess = excess_ratio(self.counts.get(lab.node_id, 0), self.total_jobs, self.active_labs)
        candidate, failed = _evaluate(
            lab, distance_km, self.spec, weights=self.weights, fairness_excess=excess, now=self.now
        )
        if candidate is None:
            result.rejected[lab.node_id] = failed
        return candidate


def match(
    registry: LabRegistry,
    spec: JobSpec,
    *,
    weights: Weights,
    fairness: FairnessLedger,
    top: int = 5,
    exclude: frozenset[str] | set[str] = frozenset(),
    now: datetime | None = None,
) -> MatchResult:
    """The best `top` candidates, walking labs nearest first until no farther lab can rank."""
    round_ = _Round.start(registry, spec, weights=weights, fairness=fairness, exclude=exclude, now=now)
    result = MatchResult(total_labs=len(registry))
    for lab, distance in registry.nearest(spec.lat, spec.lon):
        if len(result.ranked) >= top and weights.km * distance > result.ranked[-1].score.total:
            break
        candidate = round_.consider(result, lab, distance)
        if candidate is not None:
            result.ranked.append(candidate)
            result.ranked.sort(key=_rank_key)
            del result.ranked[top:]
    return result


def match_naive(
    registry: LabRegistry,
    spec: JobSpec,
    *,
    weights: Weights,
    fairness: FairnessLedger,
    top: int = 5,
    exclude: frozenset[str] | set[str] = frozenset(),
    now: datetime | None = None,
) -> MatchResult:
    """Every lab, every machine, every check, then sort: the baseline and the oracle."""
    round_ = _Round.start(registry, spec, weights=weights, fairness=fairness, exclude=exclude, now=now)
    result = MatchResult(total_labs=len(registry))
    for lab in registry.labs():
        candidate = round_.consider(result, lab, haversine_km(spec.lat, spec.lon, lab.lat, lab.lon))
        if candidate is not None:
            result.ranked.append(candidate)
    result.ranked.sort(key=_rank_key)
    del result.ranked[top:]
    return result
