"""Periodic work: offers nobody answered before their deadline go to the next candidate, and
jobs waiting for a lab (all capable labs offline, busy or closed) are routed again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.orders.service import DispatchContext, release_unaccepted_offers, route_waiting_jobs
from hub.timeutil import now

log = logging.getLogger(__name__)


class OfferSweeper:
    def __init__(self, engine: Engine, ctx: DispatchContext, *, interval_s: float,
                 after_change: Callable[[], None]) -> None:
        self._engine, self._ctx = engine, ctx
        self._interval_s = interval_s
        self._after_change = after_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offer-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sweep(self) -> int:
        with Session(self._engine, expire_on_commit=False) as session:
            released = release_unaccepted_offers(session, self._ctx, expired_at=now(),
                                                 why="offer not answered before its deadline")
            released += route_waiting_jobs(session, self._ctx)
        if released:
            self._after_change()
        return released

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except Exception:
                log.exception("offer sweep failed")
