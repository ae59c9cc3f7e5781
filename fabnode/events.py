"""Job events out to the hub: each gets its job's next sequence number and is written to the
journal before it is published at QoS 1; the broker's PUBACK marks it acknowledged. Events a
crash or a disconnect left unacknowledged are sent again (the hub ignores duplicates by seq)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from cofab_wire import EventType, JobEvent
from fabnode.journal import Journal

log = logging.getLogger(__name__)

Publish = Callable[[bytes], mqtt.MQTTMessageInfo | None]


class EventEmitter:
    def __init__(self, node_id: str, journal: Journal, publish: Publish) -> None:
        self._node_id = node_id
        self._journal = journal
        self._publish = publish
        # (paho's message info, journal event id) not yet acknowledged. The lock guards only
        # this list and is never held while calling paho: paho calls on_publish with its own
        # mutex held, and publish() takes that mutex, so holding ours across it deadlocks.
        self._in_flight: list[tuple[mqtt.MQTTMessageInfo, int]] = []
        self._lock = threading.Lock()

    def emit(self, job_id: str, type: EventType, **fields) -> JobEvent:
        holder: list[JobEvent] = []

        def build(seq: int) -> bytes:
            holder.append(JobEvent(job_id=job_id, node_id=self._node_id, seq=seq, type=type, **fields))
            return holder[0].to_bytes()

        event_id, payload = self._journal.append_event(job_id, build)
        self._send(event_id, payload)
        log.info("job event", extra={"job_id": job_id, "type": type.value, "seq": holder[0].seq,
                                     "stage": fields.get("stage"), "percent": fields.get("percent"),
                                     "reason": fields.get("reason")})
        return holder[0]

    def progress(self, job_id: str, stage: str, percent: float | None = None, **fields) -> JobEvent:
        return self.emit(job_id, EventType.PROGRESS, stage=stage, percent=percent, **fields)

    def _send(self, event_id: int, payload: bytes) -> None:
        info = self._publish(payload)
        if info is not None and info.rc == mqtt.MQTT_ERR_SUCCESS:
            with self._lock:
                self._in_flight.append((info, event_id))
        self.on_published()

    def on_published(self, _mid: int | None = None) -> None:
        """The broker acknowledged something (PUBACK): journal every event now published."""
        with self._lock:
            done = [event_id for info, event_id in self._in_flight if info.is_published()]
            self._in_flight = [(info, event_id) for info, event_id in self._in_flight if not info.is_published()]
        for event_id in done:
            self._journal.ack(event_id)

    def resend_unacked(self) -> int:
        """After a (re)connect: everything the broker has not acknowledged, oldest first."""
        self.on_published()
        pending = self._journal.unacked()
        with self._lock:
            waiting = {event_id for _, event_id in self._in_flight}
        count = 0
        for event_id, payload in pending:
            if event_id not in waiting:
                self._send(event_id, payload)
                count += 1
        if count:
            log.info("re-sent unacknowledged events", extra={"count": count})
        return count
