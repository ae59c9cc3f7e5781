"""Incoming MQTT messages to service calls. A malformed payload is logged and dropped: one bad
node must not stop the hub from hearing the others."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cofab_wire import JobEvent, Topics, WireError, parse_event, parse_status
from hub.nodes import service as nodes
from hub.orders import service as orders

log = logging.getLogger(__name__)


class InboundHandler:
    def __init__(self, engine: Engine, topics: Topics, ctx: orders.DispatchContext,
                 after_commit: Callable[[], None],
                 acknowledge: Callable[[str, JobEvent, bool], None] | None = None) -> None:
        self._engine = engine
        self._topics = topics
        self._ctx = ctx
        self._after_commit = after_commit
        self._acknowledge = acknowledge
        self.counts: Counter[str] = Counter()

    def __call__(self, topic: str, payload: bytes) -> None:
        try:
            node_id, kind = self._topics.node_of(topic)
            if kind == "status":
                if not payload:  # a cleared retained message
                    return
                self._on_status(node_id, payload)
            elif kind == "events":
                self._on_event(node_id, payload)
            else:
                return
        except (WireError, ValueError) as exc:
            self.counts["rejected"] += 1
            log.warning("malformed message dropped", extra={"topic": topic, "error": str(exc)})
            return
        self.counts[kind] += 1
        self._after_commit()

    def _on_status(self, node_id: str, payload: bytes) -> None:
        status = parse_status(payload)
        if status.node_id != node_id:
            raise ValueError(f"status on {node_id}'s topic names node {status.node_id}")
        with Session(self._engine, expire_on_commit=False) as session:
            went_offline = nodes.apply_status(session, node_id, status, self._ctx.registry)
            if went_offline:
                orders.release_unaccepted_offers(session, self._ctx, node_id=node_id, why="node went offline")

    def _on_event(self, node_id: str, payload: bytes) -> None:
        event = parse_event(payload)
        if event.node_id != node_id:
            raise ValueError(f"event on {node_id}'s topic names node {event.node_id}")
        with Session(self._engine, expire_on_commit=False) as session:
            orders.handle_event(session, self._ctx, node_id, event)
            withdrawn = orders.withdrawn_from(session, event.job_id, node_id)
        # Committed (or a duplicate/stale event already recorded): the node may stop re-sending,
        # and learns whether the job is still its own before it starts anything on a machine.
        if self._acknowledge is not None:
            self._acknowledge(node_id, event, withdrawn)
