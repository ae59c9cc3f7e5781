"""Publishes outbox rows after their transaction commits, oldest first, and marks them sent
once the broker acknowledged them (QoS 1 PUBACK). A hub restart resumes from the table, so
an offer written is an offer sent, at least once (nodes treat a repeated offer as the same job)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hub.dispatch.models import OutboxMessage
from hub.dispatch.mqtt import HubMqtt
from hub.timeutil import now

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, engine: Engine, mqtt: HubMqtt, *, batch: int = 200, idle_poll_s: float = 1.0,
                 ack_timeout_s: float = 10.0) -> None:
        self._engine = engine
        self._mqtt = mqtt
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._ack_timeout_s = ack_timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def notify(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._idle_poll_s)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self._mqtt.connected and self.flush_once():
                    pass
            except Exception:
                log.exception("outbox relay pass failed; retrying")

    def flush_once(self) -> int:
        """Publish one batch; return how many rows were acknowledged and marked sent."""
        with Session(self._engine) as session:
            rows = list(session.exec(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                                     .order_by(OutboxMessage.id).limit(self._batch)))
        if not rows:
            return 0
        pending = [(row.id, self._mqtt.publish(row.topic, row.payload, qos=row.qos)) for row in rows]
        acked = []
        for row_id, info in pending:
            info.wait_for_publish(self._ack_timeout_s)
            if info.is_published():
                acked.append(row_id)
        if acked:
            with Session(self._engine) as session:
                session.exec(update(OutboxMessage).where(OutboxMessage.id.in_(acked)).values(sent_at=now()))
                session.commit()
        return len(acked)
