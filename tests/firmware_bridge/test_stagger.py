"""Staggered starts, on a fake clock (no timing in the assertions)."""

from __future__ import annotations

import threading

import pytest

from firmware_bridge.stagger import StartStagger


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_simultaneous_starts_are_spaced_by_the_delay() -> None:
    clock = FakeClock()
    stagger = StartStagger(30, clock=clock, sleep=clock.sleep)
    assert [stagger.wait_turn() for _ in range(4)] == [0, 30, 60, 90]
    assert clock.slept == [30, 60, 90]


def test_a_start_long_after_the_last_does_not_wait() -> None:
    clock = FakeClock()
    stagger = StartStagger(30, clock=clock)
    assert stagger.reserve() == 0
    clock.now += 10
    assert stagger.reserve() == 20
    clock.now += 500
    assert stagger.reserve() == 0


def test_slots_are_unique_across_threads() -> None:
    clock = FakeClock()
    stagger = StartStagger(5, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = stagger.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [5.0 * i for i in range(20)]


def test_a_machine_does_not_wait_for_its_own_last_start() -> None:
    clock = FakeClock()
    stagger = StartStagger(30, clock=clock)
    assert stagger.reserve("a") == 0
    clock.now += 1
    assert stagger.reserve("a") == 0  # back-to-back jobs on one machine
    assert stagger.reserve("b") == 30  # but another machine waits for a's start
    assert stagger.reserve("a") == 60  # and a now waits for b's


def test_zero_delay_never_waits_and_negative_is_refused() -> None:
    stagger = StartStagger(0)
    assert stagger.wait_turn() == 0 and stagger.wait_turn() == 0
    with pytest.raises(ValueError):
        StartStagger(-1)
