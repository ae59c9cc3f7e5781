"""The rules that turn snapshots into state / progress / job-done events."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from firmware_bridge import JobProgress, MachineListener, MachineState
from firmware_bridge.monitor import JobDone, JobTracker, ProgressChanged, StateChanged, StatusMonitor
from tests.firmware_bridge.support import Recorder, wait_for

IDLE = JobProgress(MachineState.IDLE)
DONE = JobProgress(MachineState.IDLE, completion=100.0, file_name="a.gcode")
CANCELLED = JobProgress(MachineState.IDLE, completion=None, file_name="a.gcode")


def printing(completion: float) -> JobProgress:
    return JobProgress(MachineState.PRINTING, completion=completion, file_name="a.gcode")


def done_events(events: Sequence[object]) -> list[JobDone]:
    return [e for e in events if isinstance(e, JobDone)]


def test_a_job_seen_printing_then_idle_at_100_percent_succeeded() -> None:
    tracker = JobTracker()
    assert tracker.observe(IDLE, 1) == [StateChanged(MachineState.IDLE), ProgressChanged(IDLE)]
    events = tracker.observe(printing(10), 2)
    assert events == [StateChanged(MachineState.PRINTING), ProgressChanged(printing(10))]
    assert tracker.observe(printing(10), 3) == []  # nothing changed, nothing said
    assert tracker.observe(printing(60), 4) == [ProgressChanged(printing(60))]
    events = tracker.observe(DONE, 5)
    assert events == [StateChanged(MachineState.IDLE), ProgressChanged(DONE), JobDone(DONE, True)]
    assert done_events(tracker.observe(DONE, 6)) == []  # reported once


def test_cancel_error_and_lost_connection_end_a_job_as_failed() -> None:
    for end in (
        CANCELLED,
        JobProgress(MachineState.ERROR, error="Thermal Runaway"),
        JobProgress(MachineState.DISCONNECTED),
    ):
        tracker = JobTracker()
        tracker.observe(printing(50), 1)
        assert done_events(tracker.observe(end, 2)) == [JobDone(end, False)]


def test_unreachable_keeps_the_job_open_until_the_host_answers_again() -> None:
    tracker = JobTracker()
    tracker.observe(printing(50), 1)
    assert done_events(tracker.observe(JobProgress(MachineState.UNREACHABLE, error="x"), 2)) == []
    assert done_events(tracker.observe(printing(70), 3)) == []
    assert done_events(tracker.observe(DONE, 4)) == [JobDone(DONE, True)]


def test_a_job_that_ends_between_two_polls_is_reported() -> None:
    tracker = JobTracker()
    tracker.observe(IDLE, 1)
    tracker.job_started(at=2)
    assert done_events(tracker.observe(DONE, 3)) == [JobDone(DONE, True)]


def test_an_answer_requested_before_the_start_cannot_end_the_job() -> None:
    tracker = JobTracker()
    tracker.observe(IDLE, 1)
    tracker.job_started(at=5)
    assert done_events(tracker.observe(IDLE, 4)) == []  # sent at 4, before the start at 5
    assert done_events(tracker.observe(printing(5), 6)) == []
    assert done_events(tracker.observe(DONE, 7)) == [JobDone(DONE, True)]


def test_an_answer_overtaken_by_a_newer_one_is_dropped() -> None:
    tracker = JobTracker()
    tracker.observe(printing(80), 10)
    assert tracker.observe(printing(20), 9) == []
    assert tracker.last == printing(80)


class _Script:
    """A status source that plays back snapshots, then repeats the last one."""

    def __init__(self, *snapshots: JobProgress) -> None:
        self._snapshots = list(snapshots)
        self._lock = threading.Lock()

    def __call__(self) -> JobProgress:
        with self._lock:
            return self._snapshots.pop(0) if len(self._snapshots) > 1 else self._snapshots[0]


class _Broken(MachineListener):
    def on_state(self, state: MachineState) -> None:
        raise RuntimeError("listener bug")


def test_the_monitor_polls_and_survives_a_failing_listener() -> None:
    monitor = StatusMonitor(_Script(IDLE, printing(30), printing(90), DONE), name="test")
    recorder = Recorder()
    monitor.add_listener(_Broken())
    monitor.add_listener(recorder)
    monitor.start(interval_s=0.01)
    try:
        progress, success = recorder.wait_done(timeout=5)
    finally:
        monitor.stop()
    assert success is True
    assert progress == DONE
    assert recorder.states == [MachineState.IDLE, MachineState.PRINTING, MachineState.IDLE]
    assert not monitor.running


def test_a_listener_may_call_back_into_the_monitor_without_deadlock() -> None:
    monitor = StatusMonitor(_Script(IDLE, printing(30), DONE), name="test")
    seen: list[MachineState] = []

    class CallsBack(MachineListener):
        def on_state(self, state: MachineState) -> None:
            seen.append(monitor.state)
            monitor.observe(printing(1), time.monotonic() - 100)  # stale: ignored

    monitor.add_listener(CallsBack())
    monitor.start(interval_s=0.01)
    try:
        wait_for(lambda: MachineState.IDLE in seen[1:], 5, "the callback to run twice")
    finally:
        monitor.stop()


def test_a_failing_status_source_is_logged_and_polling_goes_on() -> None:
    calls = {"n": 0}

    def flaky() -> JobProgress:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("driver bug")
        return IDLE

    monitor = StatusMonitor(flaky, name="test")
    recorder = Recorder()
    monitor.add_listener(recorder)
    monitor.start(interval_s=0.01)
    try:
        wait_for(lambda: recorder.states, 5, "a state after the failed poll")
    finally:
        monitor.stop()
    assert recorder.states == [MachineState.IDLE]
