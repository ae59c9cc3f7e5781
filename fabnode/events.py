"""Job events out to the hub: each gets its job's next sequence number and is written to the
journal before it is published at QoS 1. An event counts as delivered only when the hub
acknowledges it (`EventAck`, sent after the hub committed it): a broker's PUBACK is not enough,
since a broker killed before it saved its queue loses acknowledged messages. Unconfirmed
events are sent again after a reconnect and every `resend_after_s` (the hub ignores
duplicates by sequence number and acknowledges them again)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cofab_wire import EventType, JobEvent
from fabnode.journal import Journal

log = logging.getLogger(__name__)

Publish = Callable[[bytes], object]


class EventEmitter:
    def __init__(self, node_id: str, journal: Journal, publish: Publish, *, resend_after_s: float = 10.0) -> None:
        self._node_id = node_id
        self._journal = journal
        self._publish = publish
        self.resend_after_s = resend_after_s

    def emit(self, job_id: str, type: EventType, **fields) -> JobEvent:
        holder: list[JobEvent] = []

        def build(seq: int) -> bytes:
            holder.append(JobEvent(job_id=job_id, node_id=self._node_id, seq=seq, type=type, **fields))
            return holder[0].to_bytes()

        _, payload = self._journal.append_event(job_id, build)
        self._publish(payload)
        log.info(
            "job event",
            extra={
                "job_id": job_id,
                "type": type.value,
                "seq": holder[0].seq,
                "stage": fields.get("stage"),
                "percent": fields.get("percent"),
                "reason": fields.get("reason"),
            },
        )
        return holder[0]

    def progress(self, job_id: str, stage: str, percent: float | None = None, **fields) -> JobEvent:
        return self.emit(job_id, EventType.PROGRESS, stage=stage, percent=percent, **fields)

    def acknowledged(self, job_id: str, seq: int) -> None:
        self._journal.ack(job_id, seq)

    def resend_unacked(self, *, all_pending: bool = False) -> int:
        """Send again what the hub has not confirmed: everything after a reconnect, otherwise
        only events last sent more than `resend_after_s` ago."""
        cutoff = None if all_pending else time.time() - self.resend_after_s
        pending = self._journal.unacked(sent_before=cutoff)
        for _, payload in pending:
            self._publish(payload)
        if pending:
            self._journal.mark_sent([event_id for event_id, _ in pending])
            log.info("re-sent events the hub has not confirmed", extra={"count": len(pending)})
        return len(pending)
