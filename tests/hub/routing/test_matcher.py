"""Ranking and its parts, fairness over a window, and the indexed search against the full scan."""

from __future__ import annotations

import random
import time

import pytest

from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Weights, match, match_naive
from hub.routing.registry import LabRegistry
from tests.hub.routing.factories import lab, machine, spec

WEIGHTS = Weights()


def registry_of(*labs) -> LabRegistry:
    registry = LabRegistry()
    registry.replace_all(list(labs))
    return registry


def test_nearest_lab_wins_when_all_else_is_equal():
    registry = registry_of(lab("far", 41.50, 2.17), lab("near", 41.40, 2.17), lab("mid", 41.45, 2.17))
    result = match(registry, spec(lat=41.39, lon=2.17), weights=WEIGHTS, fairness=FairnessLedger(3600))
    assert [c.node_id for c in result.ranked] == ["near", "mid", "far"]
    best = result.ranked[0]
    assert best.score.distance == pytest.approx(best.distance_km * WEIGHTS.km)
    assert best.score.total == pytest.approx(best.score.distance + best.score.lead_time + best.score.price)
    assert best.price.total == pytest.approx(
        best.price.material
        + best.price.machine_time
        + best.price.labour
        + best.price.designer_share
        + best.price.coop_fee,
        abs=0.02,
    )


def test_a_cheaper_lab_a_little_farther_can_win():
    registry = registry_of(
        lab("dear", 41.40, 2.17, machine_rate_per_hour=200.0, labour_per_job=50.0), lab("cheap", 41.41, 2.17)
    )
    result = match(registry, spec(lat=41.39, lon=2.17), weights=WEIGHTS, fairness=FairnessLedger(3600))
    assert result.ranked[0].node_id == "cheap"
    assert result.ranked[1].score.price > result.ranked[0].score.price


def test_a_busy_machine_ranks_behind_a_free_one_by_lead_time():
    registry = registry_of(
        lab("busy", 41.40, 2.17, machines=[machine("busy", eta_free_s=8 * 3600)]), lab("free", 41.402, 2.17)
    )
    result = match(registry, spec(), weights=WEIGHTS, fairness=FairnessLedger(3600))
    assert result.ranked[0].node_id == "free"
    assert result.ranked[1].lead_time_h > 8


def test_fairness_shares_work_over_the_window():
    registry = registry_of(lab("a", 41.400, 2.17), lab("b", 41.401, 2.17))
    ledger = FairnessLedger(window_s=3600)
    assert match(registry, spec(), weights=WEIGHTS, fairness=ledger).ranked[0].node_id == "a"
    for _ in range(4):
        ledger.record("a")
    result = match(registry, spec(), weights=WEIGHTS, fairness=ledger)
    assert result.ranked[0].node_id == "b"
    # a: 4 of 4 jobs between 2 labs, fair share 2, prior 5: (4 + 5) / (2 + 5) - 1
    assert result.ranked[1].score.fairness == pytest.approx(WEIGHTS.fairness * (9 / 7 - 1))
    assert result.ranked[0].score.fairness == 0
    old = FairnessLedger(window_s=3600)
    for _ in range(4):
        old.record("a", at=time.time() - 7200)  # outside the window: forgotten
    assert match(registry, spec(), weights=WEIGHTS, fairness=old).ranked[0].node_id == "a"


def test_fairness_grows_with_evidence_and_is_capped():
    from hub.routing.fairness import MAX_EXCESS, excess_ratio

    assert excess_ratio(1, 1, 2) == pytest.approx(6 / 5.5 - 1)  # one job: a small nudge only
    assert excess_ratio(200, 200, 2) == pytest.approx(205 / 105 - 1)  # nearly 2x: nearly 1
    assert excess_ratio(100, 200, 2) == 0 and excess_ratio(0, 0, 2) == 0
    assert excess_ratio(10_000, 10_000, 100) == MAX_EXCESS


def test_excluded_and_incapable_labs_are_explained():
    registry = registry_of(
        lab("declined", 41.40, 2.17),
        lab("offline", 41.40, 2.18, online=False),
        lab("small", 41.40, 2.19, machines=[machine("small", build=(50, 50, 50))]),
    )
    result = match(
        registry, spec(size_mm=(100, 100, 100)), weights=WEIGHTS, fairness=FairnessLedger(3600), exclude={"declined"}
    )
    assert result.ranked == []
    reasons = result.rejection_reasons()
    assert reasons["declined"] == "already declined this job"
    assert "offline" in reasons["offline"]
    assert "does not fit" in reasons["small"]
    assert "declined: already declined" in result.explain()


def test_the_best_machine_of_a_lab_is_chosen():
    registry = registry_of(lab("a", machines=[machine("a", "small", build=(50, 50, 50)), machine("a", "big")]))
    result = match(registry, spec(size_mm=(100, 100, 100)), weights=WEIGHTS, fairness=FairnessLedger(3600))
    assert [(c.node_id, c.machine_id) for c in result.ranked] == [("a", "big")]


def random_registry(rng: random.Random, count: int) -> LabRegistry:
    labs = []
    for i in range(count):
        machines = [
            machine(
                f"l{i}",
                f"m{j}",
                process=rng.choice(["FDM", "FDM", "laser"]),
                build=(rng.choice([120, 180, 250, 300]),) * 3,
                materials=rng.sample(["PLA", "PETG", "ABS"], rng.randint(1, 3)),
                queue_length=rng.randint(0, 5),
                eta_free_s=rng.uniform(0, 20000),
            )
            for j in range(rng.randint(0, 4))
        ]
        labs.append(
            lab(
                f"l{i}",
                rng.uniform(40.0, 43.0),
                rng.uniform(0.0, 4.0),
                machines=machines,
                membership=rng.choice(["active"] * 8 + ["pending"]),
                online=rng.random() > 0.1,
                machine_rate_per_hour=rng.uniform(2, 12),
            )
        )
    registry = LabRegistry()
    registry.replace_all(labs)
    return registry


@pytest.mark.parametrize("seed", range(8))
def test_indexed_match_returns_exactly_what_the_full_scan_returns(seed):
    rng = random.Random(seed)
    registry = random_registry(rng, 300)
    ledger = FairnessLedger(3600)
    for _ in range(50):
        ledger.record(f"l{rng.randrange(300)}")
    for _ in range(10):
        job = spec(
            lat=rng.uniform(40, 43),
            lon=rng.uniform(0, 4),
            material=rng.choice(["PLA", "PETG", "ABS"]),
            size_mm=(rng.uniform(10, 280), rng.uniform(10, 100), rng.uniform(5, 100)),
        )
        fast = match(registry, job, weights=WEIGHTS, fairness=ledger, top=5)
        full = match_naive(registry, job, weights=WEIGHTS, fairness=ledger, top=5)
        assert [(c.node_id, c.machine_id) for c in fast.ranked] == [(c.node_id, c.machine_id) for c in full.ranked]
        assert [c.score.total for c in fast.ranked] == pytest.approx([c.score.total for c in full.ranked])
        assert fast.evaluated_labs <= full.evaluated_labs
