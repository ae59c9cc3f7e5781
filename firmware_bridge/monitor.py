"""Turning a stream of status snapshots into listener calls: state changed, progress, job done.

Split in two so the rules can be tested on plain values:
- `JobTracker` decides, from consecutive snapshots, which events happened. No threads, no I/O.
- `StatusMonitor` feeds it: a background thread polls the driver, and anything else that
  learns a fresh snapshot (an explicit `status()` call, later OctoPrint's websocket push)
  calls `observe()` too. Events go through one queue and are delivered by the monitor's
  thread, in order, so listeners may call back into the driver without deadlocks.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.state import JOB_STATES, JobProgress, MachineState

logger = logging.getLogger(__name__)

_DONE_STATES = frozenset({MachineState.IDLE, MachineState.ERROR, MachineState.DISCONNECTED})
_COMPLETE_PERCENT = 100.0 - 1e-6


class MachineListener:
    """Receives a machine's events. Subclass it and override what you need.

    Calls come from the driver's monitor thread, one at a time and in order. Keep them
    short (hand heavy work to your own thread); an exception is logged and ignored.
    """

    def on_state(self, state: MachineState) -> None:
        """The machine moved to `state`."""

    def on_progress(self, progress: JobProgress) -> None:
        """Something in the snapshot changed (state, completion, times, temperatures...)."""

    def on_job_done(self, progress: JobProgress, success: bool) -> None:
        """A job ended: `success` is True only if it ran to 100 %.

        Cancelled, halted by an error, or lost with the connection: `success` is False and
        `progress.error` says why when the machine told us.
        """


@dataclass(frozen=True)
class StateChanged:
    state: MachineState


@dataclass(frozen=True)
class ProgressChanged:
    progress: JobProgress


@dataclass(frozen=True)
class JobDone:
    progress: JobProgress
    success: bool


Event = StateChanged | ProgressChanged | JobDone


class JobTracker:
    """Derives events from snapshots. Not thread-safe: `StatusMonitor` serialises calls.

    Snapshots are stamped with the monotonic time their request was *sent*, which lets the
    tracker drop an answer overtaken by a newer one, and refuse to conclude "job over" from
    an answer that was requested before the job was started (it would still say idle).
    A job that starts and ends between two polls is still reported: the driver calls
    `job_started()`, and the next idle snapshot ends it.
    """

    def __init__(self) -> None:
        self.state = MachineState.DISCONNECTED
        self.last: JobProgress | None = None
        self._job_active = False
        self._job_started_at = -math.inf
        self._last_sent_at = -math.inf

    def job_started(self, at: float) -> None:
        """A job was started at monotonic time `at` (after the host confirmed it)."""
        self._job_active = True
        self._job_started_at = at

    def observe(self, snapshot: JobProgress, sent_at: float) -> list[Event]:
        """Return the events that `snapshot` reveals, in the order listeners should see them."""
        if sent_at < self._last_sent_at:
            return []
        self._last_sent_at = sent_at
        events: list[Event] = []
        if snapshot.state != self.state:
            self.state = snapshot.state
            events.append(StateChanged(snapshot.state))
        if snapshot != self.last:
            self.last = snapshot
            events.append(ProgressChanged(snapshot))
        if snapshot.state in JOB_STATES:
            self._job_active = True
        elif self._job_active and snapshot.state in _DONE_STATES and sent_at >= self._job_started_at:
            self._job_active = False
            success = (
                snapshot.state is MachineState.IDLE
                and snapshot.completion is not None
                and snapshot.completion >= _COMPLETE_PERCENT
            )
            events.append(JobDone(snapshot, success))
        # UNREACHABLE and CONNECTING leave a job open: we cannot tell yet how it ended.
        return events


_STOP = object()


class StatusMonitor:
    """Polls a machine in the background and delivers events to listeners.

    `fetch` returns a fresh snapshot and must not raise for an unreachable machine (it
    returns a snapshot in state `unreachable` instead); anything it does raise is logged.
    """

    def __init__(self, fetch: Callable[[], JobProgress], name: str = "machine") -> None:
        self._fetch = fetch
        self._name = name
        self._lock = threading.Lock()
        self._tracker = JobTracker()
        self._listeners: tuple[MachineListener, ...] = ()
        self._events: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._interval_s = 0.5

    @property
    def state(self) -> MachineState:
        """The state seen in the newest snapshot (disconnected before the first one)."""
        with self._lock:
            return self._tracker.state

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_listener(self, listener: MachineListener) -> None:
        with self._lock:
            if listener not in self._listeners:
                self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: MachineListener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def observe(self, snapshot: JobProgress, sent_at: float) -> None:
        """Feed a snapshot whose request was sent at monotonic time `sent_at`.

        Events are queued only while the monitor runs: without a thread to deliver them
        nobody is listening, and a later start must not replay stale news.
        """
        with self._lock:
            events = self._tracker.observe(snapshot, sent_at)
            if self.running:
                for event in events:
                    self._events.put(event)

    def job_started(self, at: float) -> None:
        with self._lock:
            self._tracker.job_started(at)

    def start(self, interval_s: float = 0.5) -> None:
        """Start polling every `interval_s` seconds (or change the interval if running)."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        self._interval_s = interval_s
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"monitor-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; events already queued are still delivered first."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._events.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("monitor of %s did not stop within %.1f s", self._name, timeout)
        self._thread = None

    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            try:
                item = self._events.get(timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP or (item is None and self._stopping.is_set()):
                self._drain()
                return
            if item is not None:
                self._deliver(item)
                continue
            sent_at = time.monotonic()
            next_poll = sent_at + self._interval_s
            try:
                snapshot = self._fetch()
            except Exception:
                logger.exception("polling %s failed", self._name)
                continue
            self.observe(snapshot, sent_at)

    def _drain(self) -> None:
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._deliver(item)

    def _deliver(self, event: object) -> None:
        for listener in self._listeners:
            try:
                if isinstance(event, StateChanged):
                    listener.on_state(event.state)
                elif isinstance(event, ProgressChanged):
                    listener.on_progress(event.progress)
                elif isinstance(event, JobDone):
                    listener.on_job_done(event.progress, event.success)
            except Exception:
                logger.exception("listener %r of %s failed on %r", listener, self._name, event)
