"""Helpers shared by the firmware_bridge tests: polling with a deadline, jobs, a recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from firmware_bridge import JobProgress, MachineDriver, MachineListener, MachineState

T = TypeVar("T")

#: The example machine profiles the G-code check tests run against, by short name.
MACHINES = Path(__file__).resolve().parents[2] / "examples" / "machines"
PROFILES = {
    "marlin": "marlin-fdm.toml",
    "klipper": "klipper-fdm.toml",
    "laser": "grbl-laser.toml",
    "cnc": "grbl-cnc.toml",
}

# The demo's setting: the virtual printer moves 100x faster (docs/octoprint.md).
FAST = ["M220 S10000"]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(every)


def state_is(driver: MachineDriver, *states: MachineState) -> Callable[[], JobProgress | None]:
    def check() -> JobProgress | None:
        snapshot = driver.status()
        return snapshot if snapshot.state in states else None

    return check


def run_until_printing(driver: MachineDriver, job: Path, name: str) -> None:
    """Start `job` as `name` and wait (5 s at most) until the machine says it is printing."""
    driver.run_file(job, name)
    wait_for(state_is(driver, MachineState.PRINTING), 5, "printing")


def reconnects_idle(driver: MachineDriver, timeout: float) -> None:
    """After a fault a person has dealt with, `connect()` brings the machine back to idle."""
    driver.connect(timeout=timeout)
    assert driver.status().state is MachineState.IDLE


def write_job(path: Path, moves: int, dwell_ms: int) -> Path:
    """A hand-written job: home, then `moves` moves each followed by a dwell.

    G4 dwells take real time on the virtual printer whatever the feed rate, so the job's
    length is about moves * dwell_ms. It ends without M30 (which hangs the virtual printer).
    """
    lines = ["G21", "G90", "M82", "M140 S60", "M104 S200", "M109 S200", "G28"]
    for i in range(moves):
        lines.append(f"G1 X{20 + (i * 7) % 150} Y{20 + (i * 11) % 150} Z0.3 F6000")
        lines.append(f"G4 P{dwell_ms}")
    lines += ["M104 S0", "M140 S0", "G28 X0 Y0", "M84"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Recorder(MachineListener):
    """Collects every event a driver delivers, for assertions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: list[MachineState] = []
        self.progress: list[JobProgress] = []
        self.done: list[tuple[JobProgress, bool]] = []

    def on_state(self, state: MachineState) -> None:
        with self.lock:
            self.states.append(state)

    def on_progress(self, progress: JobProgress) -> None:
        with self.lock:
            self.progress.append(progress)

    def on_job_done(self, progress: JobProgress, success: bool) -> None:
        with self.lock:
            self.done.append((progress, success))

    def wait_done(self, timeout: float = 20.0) -> tuple[JobProgress, bool]:
        def check() -> tuple[JobProgress, bool] | None:
            with self.lock:
                return self.done[-1] if self.done else None

        return wait_for(check, timeout, "on_job_done")

    def wait_failed(self, timeout: float = 20.0) -> JobProgress:
        """Wait for a job to end as failed with the machine in error and a reason given; the
        test then checks the reason (`error`) and whatever else it cares about."""
        progress, success = self.wait_done(timeout)
        assert success is False
        assert progress.state is MachineState.ERROR
        assert progress.error is not None
        return progress

    @classmethod
    def listening_to(cls, driver: MachineDriver, interval_s: float) -> Recorder:
        """A recorder added to `driver`, whose monitor polls every `interval_s`."""
        recorder = cls()
        driver.add_listener(recorder)
        driver.start_monitoring(interval_s=interval_s)
        return recorder
