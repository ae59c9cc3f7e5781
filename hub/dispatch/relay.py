"""Publishes outbox rows after their transaction commits and marks them sent once the broker
acknowledged them (QoS 1 PUBACK). A hub restart resumes from the table, so an offer written is
an offer sent, at least once (nodes treat a repeated offer as the same job).

Several replicas may run a relay each on one PostgreSQL database: rows are claimed with a
lease (`hub.dispatch.outbox.claim`), so each row has one publisher at a time and a replica
that dies hands its rows to the others when the lease runs out. The relay is pipelined:
it claims and publishes the next rows while earlier ones wait for their PUBACK, up to
`window` rows in flight, and marks acknowledged rows sent in one statement per pass.

Acknowledged rows are kept `retention_s` (`COFAB_OUTBOX_RETENTION_S`) and then deleted by
the relay, every `prune_interval_s`, in batches: the table grew by a row per offer and
command forever. The relay prunes rather than the maintenance threads because it alone
knows how long a sent row may still be needed: never less than a broker restart may send
it again (the restart window plus `BROKER_LOSS_WINDOW_S`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.client import error_string as mqtt_error_string
from paho.mqtt.enums import MQTTErrorCode
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.dispatch import outbox
from hub.dispatch.mqtt import HubMqtt
from hub.timeutil import now

log = logging.getLogger(__name__)

# How long before a send counts as lost to a broker crash: Mosquitto's autosave interval
# (10 s, hub.broker.config) plus the time the watchdog needs to notice, with margin.
BROKER_LOSS_WINDOW_S = 30.0
PRUNE_BATCH = 5000  # rows deleted per transaction: a long backlog never holds the write lock long


@dataclass(slots=True)
class _InFlight:
    row_id: int
    info: MQTTMessageInfo
    deadline: float


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        mqtt: HubMqtt,
        *,
        owner: str | None = None,
        batch: int = 500,
        window: int = 2000,
        lease_s: float = 30.0,
        idle_poll_s: float = 1.0,
        write_lock: AbstractContextManager | None = None,
        restart_window_s: float = 300.0,
        retention_s: float = 0.0,
        prune_interval_s: float = 60.0,
    ) -> None:
        self._engine = engine
        # SQLite: the process's writers take turns on this lock (DispatchContext.lock) rather
        # than in SQLite's busy handler, which sleeps up to 100 ms between tries.
        self._write_lock = write_lock or nullcontext()
        self._mqtt = mqtt
        # Unique per process: a restarted replica must not take the dead one's claims for its own.
        self.replica = owner or "hub"
        self.owner = f"{self.replica}/{uuid.uuid4().hex[:8]}"
        self._batch = batch
        self._window = window
        self._lease_s = lease_s
        self._idle_poll_s = idle_poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: list[_InFlight] = []
        self.counts: Counter[str] = Counter()
        self.broker_restarted_at: float | None = None
        # How long after a broker restart a node coming back gets its offers again: after an
        # offer's deadline the sweeper offers the job elsewhere anyway.
        self.restart_window_s = restart_window_s
        # 0 keeps acknowledged rows; otherwise never less than a broker restart may re-send.
        self.retention_s = 0.0 if retention_s <= 0 else max(retention_s, restart_window_s + BROKER_LOSS_WINDOW_S)
        self._prune_interval_s = prune_interval_s
        self._next_prune = time.monotonic() + prune_interval_s
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        try:
            with self._write_lock, Session(self._engine) as session:
                freed = outbox.release_predecessors(session, self.replica, self.owner)
            if freed:
                log.info("took back %d outbox claims of this replica's previous process", freed)
        except Exception:
            log.exception("could not free the previous process's claims; they lapse with their lease")
        self._thread.start()

    def stop(self, wait_acks_s: float = 2.0) -> None:
        """Stop, then settle the rows in flight: mark those the broker acknowledged meanwhile,
        give back the claims of the rest, so a restarted hub or another replica sends them at
        once instead of after the lease (a repeat is harmless, a delay is not)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        deadline = time.monotonic() + wait_acks_s
        while self._inflight and time.monotonic() < deadline and self._mqtt.connected:
            if not any(item.info.is_published() for item in self._inflight):
                time.sleep(0.02)
            with Session(self._engine) as session:
                outbox.mark_sent(session, self._collect_acked())
        try:
            with Session(self._engine) as session:
                outbox.release(session, [item.row_id for item in self._inflight], self.owner)
        except Exception:
            log.exception("could not give back outbox claims; they lapse after %.0f s", self._lease_s)
        self._inflight = []

    def notify(self) -> None:
        self._wake.set()

    def requeue_after_broker_restart(self) -> int:
        """The broker was restarted after dying: send again what it may have lost.

        Called from the broker supervisor's `on_restart`. Offers still unanswered go out again
        (a node ignores an offer for a job it already holds), and commands acknowledged within
        the broker's unsaved window. The outbox is shared, so one replica doing this covers
        the rows every replica sent. A node whose session the broker lost gets nothing until
        it has subscribed again: `node_back` sends its share once more when it says so.
        """
        at = now()
        self.broker_restarted_at = at
        with Session(self._engine) as session:
            count = outbox.requeue_after_broker_loss(
                session, sent_before=at, commands_since=at - BROKER_LOSS_WINDOW_S, at=at
            )
        self.counts["requeued"] += count
        log.warning("broker restarted: sending %d unanswered offers and recent commands again", count)
        self.notify()
        return count

    def node_back(self, topic: str) -> int:
        """A node announced itself online (it subscribes before it publishes its status, so it
        hears what is sent now). Within `restart_window_s` of a broker restart, send its
        unanswered offers and recent commands again: the first re-send may have found no
        subscriber."""
        at = now()
        restarted = self.broker_restarted_at
        if restarted is None or at - restarted > self.restart_window_s:
            return 0
        with Session(self._engine) as session:
            count = outbox.requeue_after_broker_loss(
                session, sent_before=at, commands_since=restarted - BROKER_LOSS_WINDOW_S, at=at, topic=topic
            )
        if count:
            self.counts["requeued"] += count
            log.info(
                "node back after a broker restart: sending %d of its messages again", count, extra={"topic": topic}
            )
            self.notify()
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._idle_poll_s if not self._inflight else min(self._idle_poll_s, 0.05))
            self._wake.clear()
            try:
                while not self._stop.is_set() and self._pass():
                    pass
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                time.sleep(0.5)
            if self.retention_s > 0 and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self._prune_interval_s
                try:
                    self.prune()
                except Exception:
                    log.exception("pruning sent outbox rows failed; trying again in %.0f s", self._prune_interval_s)

    def _pass(self) -> bool:
        """Mark what was acknowledged, claim and publish what fits the window; True if anything moved."""
        acked = self._collect_acked()
        if acked:
            with self._write_lock, Session(self._engine) as session:
                outbox.mark_sent(session, acked)
            self.counts["sent"] += len(acked)
        published = 0
        room = self._window - len(self._inflight)
        if room > 0 and self._mqtt.connected:
            published = self._publish_batch(min(self._batch, room))
        return bool(acked) or published > 0

    def _collect_acked(self) -> list[int]:
        at = time.monotonic()
        acked, waiting = [], []
        for item in self._inflight:
            if item.info.is_published():
                acked.append(item.row_id)
            elif at < item.deadline:
                waiting.append(item)
            else:
                # No PUBACK within the lease: the claim has lapsed and any relay may publish
                # the row again; stop tracking it here.
                self.counts["lapsed"] += 1
        self._inflight = waiting
        return acked

    def _publish_batch(self, limit: int) -> int:
        with self._write_lock, Session(self._engine) as session:
            rows = outbox.claim(session, self.owner, limit=limit, lease_s=self._lease_s)
        if not rows:
            return 0
        at, deadline = now(), time.monotonic() + self._lease_s
        expired = []
        for index, row in enumerate(rows):
            expiry_s = None
            if row.expires_at is not None:
                expiry_s = row.expires_at - at
                if expiry_s <= 0:
                    expired.append(row.id)  # its deadline passed unsent: the sweeper reroutes the job
                    continue
            info = self._mqtt.publish(
                row.topic, row.payload, qos=row.qos, expiry_s=None if expiry_s is None else int(expiry_s + 0.999)
            )
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._give_back(rows[index:], info.rc)
                rows = rows[:index]
                break
            self._inflight.append(_InFlight(row.id, info, deadline))
        if expired:
            with self._write_lock, Session(self._engine) as session:
                outbox.mark_sent(session, expired)
            self.counts["expired"] += len(expired)
        return len(rows)

    def _give_back(self, rows: list[outbox.Claimed], rc: int) -> None:
        """paho refused a publish: its queue is full (`MQTT_ERR_QUEUE_SIZE`, also its answer when
        the 16-bit message id is still in use) or the connection dropped after the relay looked
        (`MQTT_ERR_NO_CONN`; paho keeps that one and sends it on reconnect, so it may arrive twice,
        which a node takes as the same offer). Such a message is not tracked (its `is_published`
        raises for ever) and its row and every later one of the batch are released unsent: the
        outbox, not paho's memory, is the queue, and the next pass claims them again in order."""
        self.counts["refused"] += len(rows)
        log.warning(
            "the MQTT session refused a publish; its rows stay unsent for the next pass",
            extra={"rc": int(rc), "reason": mqtt_error_string(rc), "rows": len(rows)},
        )
        with self._write_lock, Session(self._engine) as session:
            outbox.release(session, [row.id for row in rows], self.owner)

    def prune(self, *, at: float | None = None) -> int:
        """Delete the rows acknowledged more than `retention_s` ago; returns how many."""
        if self.retention_s <= 0:
            return 0
        at = now() if at is None else at
        total = 0
        while True:
            with self._write_lock, Session(self._engine) as session:
                deleted = outbox.prune_sent(session, sent_before=at - self.retention_s, at=at, limit=PRUNE_BATCH)
            total += deleted
            if deleted < PRUNE_BATCH:
                break
        self.counts["pruned"] += total
        if total:
            log.info("pruned %d acknowledged outbox rows", total)
        return total

    def flush_once(self, timeout_s: float = 10.0) -> int:
        """Publish what is publishable now and wait for the acknowledgements; for tests and tools
        (the thread does this continuously). Returns how many rows were marked sent."""
        deadline = time.monotonic() + timeout_s
        sent_before = self.counts["sent"]
        while True:
            self._pass()
            if not self._inflight and not self._pass():
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        return self.counts["sent"] - sent_before
