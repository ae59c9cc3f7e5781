"""bench.match: the best machine for a job among 10,000 labs x 5 machines (1,000 with --quick).

Indexed path (`hub.routing.matcher.match`: k-d tree nearest-first with a score bound) against
the naive full scan (`match_naive`: every lab, every machine, every check) on the same
registry, in this process. Both are warmed on the same queries, untimed, then timed on the
same compared queries (200; 50 with --quick), which gives the baseline and the speedups; the
indexed path is also timed on the full query set (3,000; 300) for its own p50 and p99.
Every compared query must rank the same labs and machines on both paths: the report says
`agreement_ok`, and the run exits 1 (after printing the differing queries) when they differ. It
measures the registry's memory (tracemalloc, labs + index). Target: p99 < 2 ms and >= 20x
faster than the scan (docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import random
import sys
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


def ranking(result) -> list[tuple[str, str]]:
    return [(c.node_id, c.machine_id) for c in result.ranked]


def main() -> None:
    args = parse_args(__doc__)
    labs, per_lab = (1_000, 5) if args.quick else (10_000, 5)
    queries, compared, warm = (300, 50, 10) if args.quick else (3_000, 200, 20)
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
    options = {"weights": Weights(), "fairness": ledger, "top": 5}
    warmup, specs = jobs(rng, warm), jobs(rng, queries)
    for fn in (match, match_naive):  # the same untimed warm-up for both paths
        timed(fn, registry, warmup, **options)
    fast_ms, fast_results = timed(match, registry, specs, **options)
    compared_ms, compared_results = timed(match, registry, specs[:compared], **options)
    naive_ms, naive_results = timed(match_naive, registry, specs[:compared], **options)
    differ = [
        (i, ranking(a), ranking(b))
        for i, (a, b) in enumerate(zip(compared_results, naive_results, strict=True))
        if ranking(a) != ranking(b)
    ]
    p50, p99 = percentile(fast_ms, 50), percentile(fast_ms, 99)
    c50, c99 = percentile(compared_ms, 50), percentile(compared_ms, 99)
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
            "compared_queries": compared,
            "compared_p50_ms": round(c50, 3),
            "compared_p99_ms": round(c99, 3),
            "agreement_ok": not differ,
        },
        baseline={
            "what": "full scan (match_naive) on the compared queries",
            "queries": compared,
            "p50_ms": round(n50, 3),
            "p99_ms": round(n99, 3),
        },
        ratio={"speedup_p50": round(n50 / c50, 1), "speedup_p99": round(n99 / c99, 1)},
        target="p99 < 2 ms; >= 20x faster than the scan",
        notes={
            "results_identical": f"{compared - len(differ)}/{compared}",
            "warm_up": f"{warm} queries, untimed, on both paths",
            "memory": "tracemalloc of registry snapshots and k-d tree",
        },
    )
    if differ:
        for index, indexed, naive in differ[:10]:
            print(f"query {index}: indexed {indexed} != scan {naive}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
