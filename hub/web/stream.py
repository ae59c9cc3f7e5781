"""Live updates pushed to the pages as Server-Sent Events.

Why SSE: the updates flow one way (hub to page), EventSource reconnects by itself and resends
`Last-Event-ID`, and it is plain HTTP through any proxy; a websocket would add a protocol for
nothing. Why the order stream reads the `order_events` table: every state change is written
there in the transaction that makes it (by dispatch, whichever hub replica applied it), so the
table is the one source that is complete and ordered; the stream sends each new row once
(event id = row id) followed by the order's snapshot, and ends when the order is over.
The hub reads the table every `POLL_S` on the server, one indexed query per open page; the
page itself never polls.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.deps import INT_COLUMN_MAX, BriefSession, CurrentLab, DbInt, Services, require
from hub.errors import NotFound
from hub.guard.streams import StreamSlot
from hub.orders.models import OrderEvent
from hub.web import queries

router = APIRouter(prefix="/api/v1", tags=["live"])

POLL_S = 0.5
KEEPALIVE_S = 15.0
MAX_STREAM_S = 30 * 60.0
"""A stream ends after this; EventSource reconnects with Last-Event-ID and misses nothing."""


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _read(engine, func: Callable[[Session], Any]) -> Any:
    with Session(engine, expire_on_commit=False) as session:
        return func(session)


def _new_events(session: Session, order_id: str, after: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id, col(OrderEvent.id) > after)
        .order_by(col(OrderEvent.id))
        .limit(500)
    )
    return [
        {
            "id": e.id,
            "at": e.at,
            "kind": e.kind,
            "job_id": e.job_id,
            "node_id": e.node_id,
            "message": e.message,
            "data": e.data,
        }
        for e in rows
    ]


#: One poll of a stream: the messages to send now (none: nothing new) and whether it ends.
Poll = Callable[[], Awaitable[tuple[list[bytes], bool]]]


async def _polled(request: Request, poll: Poll) -> AsyncIterator[bytes]:
    """Send what `poll` returns every POLL_S, a keep-alive after KEEPALIVE_S of silence, until
    the poll ends the stream, the page goes away or MAX_STREAM_S passes."""
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    yield b"retry: 2000\n\n"
    while loop.time() - started < MAX_STREAM_S:
        if await request.is_disconnected():
            return
        messages, end = await poll()
        for message in messages:
            yield message
        if end:
            return
        if messages:
            last_sent = loop.time()
        elif loop.time() - last_sent > KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent = loop.time()
        await asyncio.sleep(POLL_S)


def _event_stream(request: Request, poll: Poll) -> StreamingResponse:
    return StreamingResponse(
        _polled(request, poll),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _order_poll(engine: Engine, order_id: str, after: int, caller: Principal, grid_deg: float) -> Poll:
    """New history rows, then the order's snapshot (always on the first poll); `end` once the
    order is over and every row of it was sent."""
    first = True

    async def poll() -> tuple[list[bytes], bool]:
        nonlocal first, after
        events = await run_in_threadpool(_read, engine, functools.partial(_new_events, order_id=order_id, after=after))
        if not (events or first):
            return [], False
        first = False
        messages = [sse("history", event, event["id"]) for event in events]
        after = events[-1]["id"] if events else after
        snapshot = await run_in_threadpool(
            _read, engine, lambda s: queries.order_snapshot(s, order_id, caller, grid_deg)
        )
        messages.append(sse("order", snapshot, after))
        if snapshot["finished"] and snapshot["last_event_id"] <= after:
            messages.append(sse("end", {"status": snapshot["status"]}, after))
            return messages, True
        return messages, False

    return poll


@router.get(
    "/orders/{order_id}/stream",
    summary="The order's events pushed live (Server-Sent Events)",
    description="`history` events carry one row of the order's event history each (id = row id), "
    "`order` events the order's state after them, `end` closes the stream when the order is "
    "completed, failed or cancelled. Send `Last-Event-ID` (EventSource does) to resume.",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def order_stream(
    order_id: str,
    request: Request,
    caller: Annotated[Principal, Depends(require(Role.MAKER, Role.CITY))],
    _slot: StreamSlot,
    session: BriefSession,
    services: Services,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[DbInt, Query(ge=0, description="Send only rows after this id.")] = 0,
) -> StreamingResponse:
    owner = queries.order_owner(session, order_id)
    if owner is None or (caller.role is Role.MAKER and owner != caller.token_id):
        raise NotFound(f"no order {order_id!r}")
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit() and int(last_event_id) <= INT_COLUMN_MAX:
        after = int(last_event_id)  # an id the stream sent; anything else is ignored, as EventSource would
    grid = services.settings.city.privacy_grid_deg
    return _event_stream(request, _order_poll(services.engine, order_id, after, caller, grid))


def _snapshot_poll(engine: Engine, build: Callable[[Session], Any]) -> Poll:
    """The snapshot whenever it differs from the last one sent; never ends by itself."""
    previous = None

    async def poll() -> tuple[list[bytes], bool]:
        nonlocal previous
        snapshot = await run_in_threadpool(_read, engine, build)
        digest = hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()
        if digest == previous:
            return [], False
        previous = digest
        return [sse("console", snapshot)], False

    return poll


@router.get(
    "/labs/{node_id}/console/stream",
    summary="A lab's console pushed live (Server-Sent Events)",
    description="`console` events carry the whole console (machines, offers with their checks, queue, "
    "history, earnings) whenever any of it changes. The lab's own token, or an admin.",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def lab_console_stream(
    request: Request, lab: CurrentLab, services: Services, _slot: StreamSlot
) -> StreamingResponse:
    node_id = lab.id
    return _event_stream(request, _snapshot_poll(services.engine, lambda s: queries.lab_console(s, node_id)))
