"""Incoming MQTT messages to service calls. A malformed payload is logged and dropped: one bad
node must not stop the hub from hearing the others.

Messages are handled on one worker thread, in arrival order, off the MQTT network thread:
consecutive job events are applied in one transaction (a batch), statuses one by one. A
message is acknowledged to the broker only after its transaction committed, so a hub that
dies in between gets it again (QoS 1, persistent session); the per-job `seq` makes that
repeat a no-op. When the database is unreachable the worker retries the same batch and
acknowledges nothing: the events wait in the broker, none is dropped.

With several replicas the broker hands a node's consecutive events to different replicas, so
event 2 of a job may reach one before another has applied event 1. Such an event is held
(unacknowledged) and tried again shortly; after `hold_s` without its predecessor it is
applied anyway, superseding the missing one (which is then ignored as stale if it comes).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import paho.mqtt.client as mqtt
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from cofab_wire import JobEvent, Topics, WireError, parse_event, parse_status
from hub.dispatch import events as dispatch_events
from hub.dispatch import sweeps
from hub.dispatch.context import DispatchContext
from hub.nodes import service as nodes

log = logging.getLogger(__name__)

# SQLSTATEs worth retrying as they are: deadlock, serialization failure, lock timeout.
_RETRY_SQLSTATES = {"40P01", "40001", "55P03"}
_HELD_RETRY_S = 0.05
_T = TypeVar("_T")


class _Stopping(Exception):
    """The hub is stopping while the database is away: leave the rest unacknowledged."""


@dataclass(slots=True)
class _Item:
    message: mqtt.MQTTMessage | None
    topic: str
    payload: bytes
    held_since: float | None = None


class InboundHandler:
    def __init__(
        self,
        engine: Engine,
        topics: Topics,
        ctx: DispatchContext,
        after_commit: Callable[[], None],
        *,
        ack: Callable[[mqtt.MQTTMessage], None] | None = None,
        registry_lock: AbstractContextManager | None = None,
        batch: int = 500,
        on_node_online: Callable[[str], None] | None = None,
        hold_s: float = 10.0,
        confirm: Callable[[str, JobEvent, bool], None] | None = None,
    ) -> None:
        self._engine = engine
        self._topics = topics
        self._ctx = ctx
        self._after_commit = after_commit
        self._ack = ack
        self._registry_lock = registry_lock or nullcontext()
        self._batch = batch
        self._on_node_online = on_node_online
        self._confirm = confirm
        self._hold_s = hold_s
        self._held: list[tuple[_Item, str, JobEvent]] = []
        self._queue: deque[_Item] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._busy = False
        self._thread: threading.Thread | None = None
        self.counts: Counter[str] = Counter()

    # -- the MQTT side ----------------------------------------------------------------------
    def submit(self, message: mqtt.MQTTMessage) -> None:
        """Called on the MQTT network thread: queue the message for the worker and return."""
        with self._ready:
            self._queue.append(_Item(message, message.topic, message.payload))
            self._ready.notify()

    def __call__(self, topic: str, payload: bytes) -> None:
        """Handle one message now, on the caller's thread (tests, tools)."""
        self._handle([_Item(None, topic, payload)])

    # -- the worker ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-inbound", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Finish what is queued (up to `drain_s`), then stop; the rest stays unacknowledged."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and (self._queue or self._busy):
            time.sleep(0.02)
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                if not self._queue and not self._stop.is_set():
                    self._ready.wait(_HELD_RETRY_S if self._held else 0.5)
                items = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                self._busy = bool(items) or bool(self._held)
            try:
                if items or self._held:
                    self._handle(items)
            finally:
                self._busy = False

    def _handle(self, items: list[_Item]) -> None:
        try:
            self._handle_in_order(items)
        except _Stopping:
            log.warning("stopping with messages not handled; the broker delivers them again")

    def _handle_in_order(self, items: list[_Item]) -> None:
        """Statuses one by one, runs of consecutive events as one batch, in arrival order;
        events held back earlier go first."""
        run, self._held = self._held, []
        changed = False
        for item in items:
            try:
                node_id, kind = self._topics.node_of(item.topic)
                if kind == "events":
                    event = parse_event(item.payload)
                    run.append((item, node_id, event))
                    continue
                changed |= self._flush(run)
                run = []
                if kind == "status" and item.payload:  # an empty payload clears a retained status
                    self._retry(functools.partial(self._on_status, node_id, item.payload))
                    self.counts["status"] += 1
                    changed = True
            except (WireError, ValueError) as exc:
                self.counts["rejected"] += 1
                log.warning("malformed message dropped", extra={"topic": item.topic, "error": str(exc)})
            except _Stopping:
                raise
            except Exception:
                self.counts["failed"] += 1
                log.exception("message could not be handled; dropped", extra={"topic": item.topic})
            self._acknowledge(item)
        changed |= self._flush(run)
        if changed:
            self._after_commit()

    def _flush(self, run: list[tuple[_Item, str, JobEvent]]) -> bool:
        if not run:
            return False
        # A job's events in their own order (a held one and its late predecessor meet here).
        run.sort(key=lambda entry: (entry[2].job_id, entry[2].seq))
        at = time.monotonic()
        overdue = [entry[0].held_since is not None and at - entry[0].held_since > self._hold_s for entry in run]
        try:
            outcome = self._retry(lambda: self._apply_events([(node, event) for _, node, event in run], overdue))
        except _Stopping:
            raise
        except Exception:
            # Not the database being away (that is retried): one event the service cannot
            # apply. Apply them one by one so the others still land; drop the one that fails.
            log.exception("event batch failed; applying its events one by one")
            for _, node, event in run:
                try:
                    self._retry(functools.partial(self._apply_events, [(node, event)], [True]))
                except _Stopping:
                    raise
                except Exception:
                    self.counts["failed"] += 1
                    log.exception(
                        "event could not be applied; dropped", extra={"job_id": event.job_id, "node_id": node}
                    )
            outcome = [False] * len(run)
        for entry, result in zip(run, outcome):
            item = entry[0]
            if result is None:  # its predecessor has not been applied yet
                if item.held_since is None:
                    item.held_since = at
                    self.counts["held"] += 1
                self._held.append(entry)
                continue
            if item.held_since is not None and result and at - item.held_since > self._hold_s:
                log.warning(
                    "event applied without its predecessor, which never came",
                    extra={"job_id": entry[2].job_id, "seq": entry[2].seq},
                )
            self.counts["events"] += 1
            self._acknowledge(item)
        return True

    def _apply_events(self, events: list[tuple[str, JobEvent]], force: list[bool]) -> list[bool | None]:
        """Apply in one transaction; events marked in `force` are applied even over a gap."""
        with Session(self._engine, expire_on_commit=False) as session, self._ctx.lock:
            if all(force):
                changed = dispatch_events.apply_events(session, self._ctx, events)
            elif not any(force):
                changed = dispatch_events.apply_events(session, self._ctx, events, hold_gaps=True)
            else:
                changed = dispatch_events.apply_events(session, self._ctx, events, hold_gaps=True)
                # Overdue ones go again without holding, in the same transaction.
                again = [i for i, (result, forced) in enumerate(zip(changed, force)) if result is None and forced]
                if again:
                    retried = dispatch_events.apply_events(session, self._ctx, [events[i] for i in again])
                    for i, result in zip(again, retried):
                        changed[i] = result
            session.commit()
            decided = [(node, event) for (node, event), result in zip(events, changed) if result is not None]
            withdrawn = dispatch_events.withdrawn_jobs(session, decided) if self._confirm is not None else set()
        self.counts["applied"] += sum(1 for c in changed if c)
        # Committed (or recognised as a duplicate; held events wait): tell each node, which
        # keeps re-sending an event until then, and whether the job is still its own before it
        # starts a machine.
        if self._confirm is not None:
            for node, event in decided:
                if event.node_id == node:
                    self._confirm(node, event, (node, event.job_id) in withdrawn)
        return changed

    def _on_status(self, node_id: str, payload: bytes) -> None:
        status = parse_status(payload)
        if status.node_id != node_id:
            raise ValueError(f"status on {node_id}'s topic names node {status.node_id}")
        with self._registry_lock, Session(self._engine, expire_on_commit=False) as session:
            went_offline = nodes.apply_status(session, node_id, status, self._ctx.registry)
            if went_offline:
                sweeps.release_unaccepted_offers(session, self._ctx, node_id=node_id, why="node went offline")
        if status.online and self._on_node_online is not None:
            self._on_node_online(node_id)

    def _retry(self, work: Callable[[], _T]) -> _T:
        """Run `work`; while the database is unreachable or a lock conflict aborts it, wait and
        run it again (nothing is acknowledged meanwhile). Other errors propagate."""
        delay = 0.05
        while True:
            try:
                return work()
            except (WireError, ValueError):
                raise
            except DBAPIError as exc:
                transient = isinstance(exc, OperationalError) or _sqlstate(exc) in _RETRY_SQLSTATES
                if not transient:
                    raise
                if self._stop.is_set():
                    raise _Stopping() from exc
                self.counts["retried"] += 1
                log.warning("database busy or away; retrying", extra={"error": str(exc.orig)[:200]})
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _acknowledge(self, item: _Item) -> None:
        if item.message is not None and self._ack is not None:
            self._ack(item.message)


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)
