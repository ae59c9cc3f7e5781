"""bench.dispatch's CPU accounting: the figures its closing argument rests on."""

from __future__ import annotations

import os
import time

from bench.dispatch import CpuMeter, cpu_budget


def test_the_budget_sums_every_process_and_compares_with_raw():
    hub = {"hub_cpu_ms": 0.6, "nodes_cpu_ms": 0.2, "broker_cpu_ms": 0.1, "driver_cpu_ms": 0.1, "rate_per_s": 999}
    raw = [
        {"client_cpu_ms": 0.2, "nodes_cpu_ms": 0.2, "broker_cpu_ms": 0.1, "rate_per_s": 1},
        {"client_cpu_ms": 0.1, "nodes_cpu_ms": 0.2, "broker_cpu_ms": 0.1, "rate_per_s": 1},
    ]
    budget = cpu_budget(hub, raw)
    assert budget == {
        "hub_path_cpu_ms_per_job": 1.0,
        "raw_cpu_ms_per_round_trip": 0.45,
        "rate_ratio_ceiling_at_equal_utilisation": 0.45,
    }


def test_the_meter_counts_a_process_list_found_when_reading():
    meter = CpuMeter(me=lambda: [os.getpid()], nobody=None).start()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    used = meter.per(2)
    assert used["nobody_cpu_ms"] == 0
    assert used["me_cpu_ms"] >= 50  # 0.2 s of CPU over 2 units, in ms (clock ticks are 10 ms)


def test_a_process_found_only_at_the_end_counts_from_zero():
    listed: list[int] = []
    meter = CpuMeter(backends=lambda: list(listed)).start()
    listed.append(os.getpid())  # a backend started meanwhile: all its CPU belongs to the run
    used = meter.per(1)
    assert used["backends_cpu_ms"] >= time.process_time() * 1000 - 20
