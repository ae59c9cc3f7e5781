"""Live-stream slots: how many Server-Sent-Event streams one token may hold open at once.

Why: each open stream costs the hub a connection, a poll of the database every half second
and a worker thread while it reads; one maker with 16 open order pages starved everybody
else. Why 4 by default: browsers open at most 6 HTTP/1.1 connections to one host and each
live page holds one, so a person with more than 4 live pages has already stalled their own
page loads; docs/limits.md has the rest.

A slot is a lease that ends when the stream does (`hold_stream_slot`, a FastAPI dependency
whose exit runs after the response is sent), or at the latest `SLOT_LEASE_S` after it was
taken, so a replica that dies holding slots does not keep them. `limits` counts rates, not
things held, so slots are a sorted set per token (member = slot, score = lease end) in the
same storage: in this process, or in Redis for every replica.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from hub.deps import Caller
from hub.guard.ratelimit import TooManyRequests
from hub.guard.storage import Counters

SLOT_LEASE_S = 31 * 60.0
"""Longer than any stream lasts (`hub.web.stream.MAX_STREAM_S`, 30 min)."""
RETRY_AFTER_S = 10
"""A slot frees when another stream of the token ends, which the hub cannot foresee: retry soon."""

_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class StreamSlots:
    def __init__(self, counters: Counters, per_owner: int) -> None:
        self.per_owner = per_owner
        self._counters = counters
        self._redis = counters.redis
        self._take_script = self._redis.register_script(_TAKE) if self._redis is not None else None
        self._local: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def _key(self, owner: str) -> str:
        return f"{self._counters.prefix}:stream-slots:{owner}"

    def take(self, owner: str) -> str | None:
        """A new slot's id, or None when `owner` holds every slot it may."""
        slot, now, script = uuid.uuid4().hex, time.time(), self._take_script
        if script is None:
            with self._lock:
                held = {s: end for s, end in self._local.get(owner, {}).items() if end > now}
                if len(held) >= self.per_owner:
                    return None
                self._local[owner] = held | {slot: now + SLOT_LEASE_S}
            return slot
        args = [now, self.per_owner, now + SLOT_LEASE_S, slot, int(SLOT_LEASE_S) + 1]
        taken = self._counters.call(1, lambda: script(keys=[self._key(owner)], args=args))
        return slot if taken else None

    def release(self, owner: str, slot: str) -> None:
        if self._redis is None:
            with self._lock:
                held = self._local.get(owner, {})
                held.pop(slot, None)
                if not held:
                    self._local.pop(owner, None)
            return
        self._counters.call(0, lambda: self._redis.zrem(self._key(owner), slot))

    @contextmanager
    def hold(self, owner: str) -> Iterator[None]:
        """One slot of `owner`'s for the `with` block, or `TooManyRequests`."""
        slot = self.take(owner)
        if slot is None:
            raise TooManyRequests(
                f"this token already has {self.per_owner} live streams open, the most it may; "
                "close one (another tab or window)",
                RETRY_AFTER_S,
            )
        try:
            yield
        finally:
            self.release(owner, slot)


def hold_stream_slot(request: Request, caller: Caller) -> Iterator[None]:
    """A stream route's dependency: a slot of the caller's token for as long as its response
    lasts. An app built without the guard (`hub.guard.install`) has no slots to count."""
    slots: StreamSlots | None = getattr(request.app.state, "stream_slots", None)
    if slots is None:
        yield
        return
    with slots.hold(str(caller.token_id)):
        yield


StreamSlot = Annotated[None, Depends(hold_stream_slot, scope="request")]
"""Add `_slot: StreamSlot` to a streaming route (after its role check)."""
