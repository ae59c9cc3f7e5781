"""hub.lifecycle: parts start in declared order and stop in reverse; a failed start stops what
had started; a failed stop does not keep the other parts up; a late-bound callback refuses to
be called before it is bound."""

from __future__ import annotations

import logging

import pytest

from hub.lifecycle import LateBound, Lifecycle, OnStop


class Part:
    def __init__(self, name: str, calls: list[str], *, fail_start: bool = False, fail_stop: bool = False) -> None:
        self.name, self.calls = name, calls
        self.fail_start, self.fail_stop = fail_start, fail_stop

    def start(self) -> None:
        self.calls.append(f"start {self.name}")
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")

    def stop(self) -> None:
        self.calls.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} cannot stop")


def lifecycle(*parts: Part) -> Lifecycle:
    result = Lifecycle()
    for part in parts:
        result.add(part.name, part)
    return result


def test_parts_start_in_declared_order_and_stop_in_reverse_once() -> None:
    calls: list[str] = []
    life = lifecycle(Part("a", calls), Part("b", calls), Part("c", calls))
    life.start()
    life.stop()
    life.stop()
    assert calls == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


def test_a_part_that_fails_to_start_stops_those_started_before_it() -> None:
    calls: list[str] = []
    life = lifecycle(Part("a", calls), Part("b", calls), Part("c", calls, fail_start=True), Part("d", calls))
    with pytest.raises(RuntimeError, match="c cannot start"):
        life.start()
    assert calls == ["start a", "start b", "start c", "stop b", "stop a"]


def test_an_error_while_stopping_is_logged_and_the_rest_still_stop(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    released: list[bool] = []
    life = lifecycle(Part("a", calls), Part("b", calls, fail_stop=True), Part("c", calls))
    life.add("pool", OnStop(lambda: released.append(True)))
    life.start()
    with caplog.at_level(logging.ERROR, logger="hub.lifecycle"):
        life.stop()
    assert released == [True]
    assert calls[-3:] == ["stop c", "stop b", "stop a"]
    assert "error while stopping b" in caplog.text


def test_a_late_bound_callback_is_bound_once_and_refuses_calls_before() -> None:
    seen: list[int] = []
    callback: LateBound[[int]] = LateBound("the test callback")
    with pytest.raises(RuntimeError, match="called before it was bound"):
        callback(1)
    callback.bind(seen.append)
    callback(2)
    assert seen == [2]
    with pytest.raises(RuntimeError, match="already bound"):
        callback.bind(seen.append)
