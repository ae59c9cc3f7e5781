"""bench.match: the best machine for a job among 10,000 labs x 5 machines.

Indexed path (`hub.routing.matcher.match`: k-d tree nearest-first with a score bound) against
the naive full scan (`match_naive`: every lab, every machine, every check) on the same
registry and the same jobs, in this process. Also checks both agree on every query, and
measures the registry's memory (tracemalloc, labs + index). Target: p99 < 2 ms and >= 20x
faster than the scan (../shared/TARGETS.md).
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc

from bench.common import parse_args, percentile, report
from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Weights, match, match_naive
from hub.routing.registry import LabRegistry
from hub.routing.snapshots import JobSpec, LabView, MachineView

MATERIALS = ["PLA", "PETG", "ABS", "TPU", "ASA"]
BUILDS = [(180, 180, 180), (220, 220, 250), (250, 210, 210), (300, 300, 400), (120, 120, 120)]


def build_registry(rng: random.Random, labs: int, machines_per_lab: int) -> LabRegistry:
    """Labs spread over Europe's cities' latitude band, mostly active and online."""
    views = []
    for i in range(labs):
        node = f"lab-{i:05d}"
        machines = []
        for j in range(machines_per_lab):
            build = rng.choice(BUILDS)
            machines.append(
                MachineView(
                    node_id=node,
                    machine_id=f"m{j}",
                    process=rng.choice(["FDM"] * 4 + ["laser"]),
                    build_sorted_mm=tuple(sorted(build)),
                    build_mm=build,
                    materials=frozenset(m.casefold() for m in rng.sample(MATERIALS, rng.randint(1, 3))),
                    queue_length=rng.randint(0, 6),
                    queue_limit=5,
                    eta_free_s=rng.uniform(0, 8 * 3600),
                )
            )
        views.append(
            LabView(
                node_id=node,
                name=node,
                lat=rng.uniform(36.0, 60.0),
                lon=rng.uniform(-9.0, 25.0),
                membership="active" if rng.random() < 0.95 else "pending",
                online=rng.random() < 0.9,
                machines=tuple(machines),
                machine_rate_per_hour=rng.uniform(3, 12),
                labour_per_job=rng.uniform(1, 6),
            )
        )
    registry = LabRegistry()
    registry.replace_all(views)
    registry.nearest(0.0, 0.0).__next__()  # build the index now, not inside the first timed query
    return registry


def jobs(rng: random.Random, count: int) -> list[JobSpec]:
    return [
        JobSpec(
            process="FDM",
            material=rng.choice(MATERIALS[:3]),
            size_mm=(rng.uniform(10, 200), rng.uniform(10, 150), rng.uniform(5, 150)),
            volume_mm3=rng.uniform(1_000, 200_000),
            lat=rng.uniform(36.0, 60.0),
            lon=rng.uniform(-9.0, 25.0),
        )
        for _ in range(count)
    ]


def timed(fn, registry, specs, **kwargs) -> tuple[list[float], list]:
    samples, results = [], []
    for spec in specs:
        t0 = time.perf_counter_ns()
        result = fn(registry, spec, **kwargs)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        results.append(result)
    return samples, results


def main() -> None:
    args = parse_args(__doc__)
    labs, per_lab = (1_000, 5) if args.quick else (10_000, 5)
    queries, naive_queries = (300, 50) if args.quick else (3_000, 200)
    rng = random.Random(20261125)

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = build_registry(rng, labs, per_lab)
    registry_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()

    ledger = FairnessLedger(30 * 86400)
    for _ in range(labs):
        ledger.record(f"lab-{rng.randrange(labs):05d}")
    weights = Weights()
    specs = jobs(rng, queries)
    timed(match, registry, specs[:50], weights=weights, fairness=ledger)  # warm caches
    fast_ms, fast_results = timed(match, registry, specs, weights=weights, fairness=ledger, top=5)
    naive_ms, naive_results = timed(
        match_naive, registry, specs[:naive_queries], weights=weights, fairness=ledger, top=5
    )
    agree = sum(
        [c.node_id for c in a.ranked] == [c.node_id for c in b.ranked] for a, b in zip(fast_results, naive_results)
    )
    p50, p99 = percentile(fast_ms, 50), percentile(fast_ms, 99)
    n50, n99 = percentile(naive_ms, 50), percentile(naive_ms, 99)
    report(
        "match",
        values={
            "labs": labs,
            "machines": labs * per_lab,
            "queries": queries,
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "mean_labs_evaluated": round(sum(r.evaluated_labs for r in fast_results) / len(fast_results), 1),
            "registry_mb": round(registry_mb, 1),
        },
        baseline={
            "what": "full scan (match_naive)",
            "queries": naive_queries,
            "p50_ms": round(n50, 3),
            "p99_ms": round(n99, 3),
        },
        ratio={"speedup_p50": round(n50 / p50, 1), "speedup_p99": round(n99 / p99, 1)},
        target="p99 < 2 ms; >= 20x faster than the scan",
        notes={
            "results_identical": f"{agree}/{naive_queries}",
            "memory": "tracemalloc of registry snapshots and k-d tree",
        },
    )


if __name__ == "__main__":
    main()
