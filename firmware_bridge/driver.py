"""The one interface the node agent uses for every machine, whatever drives it.

A driver knows its machine and nothing else: no MQTT, no hub, no job ids (import-linter
enforces it). The node agent owns the job lifecycle; a driver only answers "what is the
machine doing" and carries out "run this file", "pause", "stop".

Two ways to learn about the machine:
- `status()` asks the machine now and returns a snapshot. It never raises for a machine
  that cannot be reached: the snapshot's state is `unreachable` and `error` says why,
  because "I cannot see it" is a status the node must report, not a crash.
- listeners get `on_state`, `on_progress` and `on_job_done` from a background monitor
  started with `start_monitoring()`. Today it polls; a driver may also push snapshots it
  receives (OctoPrint's websocket, later) into the same monitor.
Actions (`connect`, `upload`, `start`, `pause`, ...) raise a `MachineError` subclass with
a message meant for the lab operator.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from firmware_bridge.errors import (
    MachineAuthError,
    MachineBusy,
    MachineError,
    MachineNotReady,
    MachineResponseError,
    MachineUnreachable,
)
from firmware_bridge.monitor import MachineListener, StatusMonitor
from firmware_bridge.state import JOB_STATES, JobProgress, MachineCapabilities, MachineState

logger = logging.getLogger(__name__)

# Failures of the host rather than the machine: `status()` reports them as `unreachable`.
_TRANSPORT_ERRORS = (MachineUnreachable, MachineAuthError, MachineResponseError)


def _unreachable(exc: MachineError) -> JobProgress:
    """The snapshot of a machine the host cannot reach, with the reason."""
    return JobProgress(MachineState.UNREACHABLE, error=str(exc))


def _or_unreachable(read: Callable[[], JobProgress]) -> JobProgress:
    """`read()`, or the unreachable snapshot when the host fails us: "I cannot see it" is a
    status to report, not a crash."""
    try:
        return read()
    except _TRANSPORT_ERRORS as exc:
        return _unreachable(exc)


class MachineDriver(ABC):
    """A connection to one machine. Subclasses implement the machine-specific methods.

    The base class owns the listeners and the monitor so every driver reports events the
    same way. Use it as a context manager, or call `close()`.
    """

    def __init__(self) -> None:
        self._monitor = StatusMonitor(self._poll_status, name=str(self))

    # --- connection -------------------------------------------------------------------

    @abstractmethod
    def connect(self, timeout: float = 30.0) -> None:
        """Make the machine ready for jobs, blocking until it is or raising `MachineError`.

        Must not disturb a job that is already running (e.g. after the node restarted):
        attaching to a busy machine counts as ready.
        """

    @abstractmethod
    def disconnect(self) -> None:
        """Have the host release the machine (e.g. for maintenance); state `disconnected`.

        A running job is aborted by the host, so callers check `status()` first.
        """

    def close(self) -> None:
        """Stop monitoring and release the connection to the host.

        It does not disconnect the machine: a running job keeps running.
        """
        self._monitor.stop()
        self._close_transport()

    @abstractmethod
    def _close_transport(self) -> None:
        """Release sockets and clients; called once by `close()`."""

    def __enter__(self) -> MachineDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- what the machine is doing ----------------------------------------------------

    @property
    def state(self) -> MachineState:
        """The state in the newest snapshot seen (no request made); `status()` refreshes."""
        return self._monitor.state

    @property
    @abstractmethod
    def capabilities(self) -> MachineCapabilities:
        """What the machine can do; complete after `connect()`."""

    def status(self) -> JobProgress:
        """Ask the machine now. Never raises `MachineError`; see the module docstring."""
        return _or_unreachable(self.checked_status)

    def checked_status(self) -> JobProgress:
        """Like `status()`, but raise the transport error (unreachable, auth) instead."""
        sent_at = time.monotonic()
        try:
            snapshot = self._read_status()
        except _TRANSPORT_ERRORS as exc:
            self._monitor.observe(_unreachable(exc), sent_at)
            raise
        self._monitor.observe(snapshot, sent_at)
        return snapshot

    @abstractmethod
    def _read_status(self) -> JobProgress:
        """One fresh snapshot from the machine; raise `MachineError` if the host fails us."""

    def _poll_status(self) -> JobProgress:
        """The monitor's fetch: like `status()` but without observing (the monitor does)."""
        return _or_unreachable(self._read_status)

    # --- jobs -------------------------------------------------------------------------

    @abstractmethod
    def upload(self, path: Path, remote_name: str) -> str:
        """Store a local file on the machine's host; return the name the host stored it as.

        The host may clean the name up (spaces, odd characters), so use the returned name.
        """

    @abstractmethod
    def start(self, remote_name: str) -> None:
        """Start a file already stored on the host; `MachineBusy` if a job is running."""

    def run_file(self, path: Path, remote_name: str) -> str:
        """Upload `path` and start it; return the stored name. Refuses a busy machine.

        Drivers override this when their host can do it in one step.
        """
        self.require_idle()
        stored = self.upload(path, remote_name)
        self.start(stored)
        return stored

    @abstractmethod
    def pause(self) -> None:
        """Pause the running job after the current move."""

    @abstractmethod
    def resume(self) -> None:
        """Resume a paused job."""

    @abstractmethod
    def cancel(self) -> None:
        """Abort the current job; the machine returns to idle."""

    @abstractmethod
    def emergency_stop(self) -> None:
        """Halt the machine at once (M112 or equivalent). It needs a reconnect afterwards."""

    @abstractmethod
    def send_commands(self, lines: list[str]) -> None:
        """Send raw commands (G-code lines) to the machine, in order."""

    # --- events -----------------------------------------------------------------------

    def add_listener(self, listener: MachineListener) -> None:
        """Register `listener` for state, progress and job-done events (see `MachineListener`)."""
        self._monitor.add_listener(listener)

    def remove_listener(self, listener: MachineListener) -> None:
        self._monitor.remove_listener(listener)

    def start_monitoring(self, interval_s: float = 0.5) -> None:
        """Poll the machine every `interval_s` seconds in a background thread for listeners."""
        self._monitor.start(interval_s)

    def stop_monitoring(self) -> None:
        self._monitor.stop()

    # --- helpers for subclasses -------------------------------------------------------

    def require_idle(self) -> JobProgress:
        """Return a fresh snapshot if the machine can take a job, else raise why not."""
        snapshot = self.checked_status()
        if snapshot.state is MachineState.IDLE:
            return snapshot
        if snapshot.state in JOB_STATES:
            raise MachineBusy(
                f"{self} is {snapshot.state} ({snapshot.file_name or 'unknown file'}); "
                "it cannot take another job until that one ends",
                snapshot.state,
            )
        raise self.not_ready_error(snapshot)

    def not_ready_error(self, snapshot: JobProgress) -> MachineNotReady:
        """The error explaining why a machine in `snapshot.state` cannot act."""
        if snapshot.state is MachineState.ERROR:
            return MachineNotReady(
                f"{self} stopped with an error: {snapshot.error or 'no message'}; check the machine, then reconnect",
                snapshot.state,
                firmware_error=snapshot.error,
            )
        if snapshot.state is MachineState.UNREACHABLE:
            return MachineNotReady(snapshot.error or f"{self} cannot be reached", snapshot.state)
        return MachineNotReady(f"{self} is {snapshot.state}; connect it first", snapshot.state)

    def _job_started(self, at: float) -> None:
        """Tell the monitor a job was started at monotonic time `at` (see `JobTracker`)."""
        self._monitor.job_started(at)
