"""Job events out to the hub, each with the next sequence number of its job, at QoS 1."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from cofab_wire import EventType, JobEvent

log = logging.getLogger(__name__)

Publish = Callable[[bytes], None]


class EventEmitter:
    def __init__(self, node_id: str, publish: Publish) -> None:
        self._node_id = node_id
        self._publish = publish
        self._seq: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def emit(self, job_id: str, type: EventType, **fields) -> JobEvent:
        with self._lock:
            self._seq[job_id] += 1
            event = JobEvent(job_id=job_id, node_id=self._node_id, seq=self._seq[job_id], type=type, **fields)
            self._publish(event.to_bytes())
        log.info("job event", extra={"job_id": job_id, "type": type.value, "stage": fields.get("stage"),
                                     "percent": fields.get("percent"), "reason": fields.get("reason")})
        return event

    def progress(self, job_id: str, stage: str, percent: float | None = None, **fields) -> JobEvent:
        return self.emit(job_id, EventType.PROGRESS, stage=stage, percent=percent, **fields)
