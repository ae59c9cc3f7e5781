"""Periodic work, on every replica:

- `OfferSweeper`: offers nobody answered before their deadline go to the next candidate.
  Replicas sweep the same table; each skips the jobs another is handling (`SKIP LOCKED`).
- `RegistryRefresher`: reloads the lab registry and the fairness ledger from the database,
  so labs registered, approved or suspended through another replica, and jobs accepted
  there, count here too. Live statuses reach every replica over MQTT in between.
- `UploadPurger`: staged uploads past their expiry are forgotten and their bytes deleted when
  nothing else refers to them. Run once at start-up and then periodically, so a hub that
  receives no new uploads (which also purge) still gives the disk back. Replicas may purge
  the same rows; deleting what another replica already deleted is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.catalog.uploads import purge_expired_uploads
from hub.dispatch.context import DispatchContext
from hub.dispatch.sweeps import release_unaccepted_offers, route_waiting_jobs
from hub.files.store import FileStore
from hub.routing.sync import load_fairness, load_registry
from hub.timeutil import now

log = logging.getLogger(__name__)


class _Periodic:
    """Runs `run_once` every `interval_s` on its own thread; a `hub.lifecycle.Component`."""

    name = "periodic"

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def run_once(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("%s failed; trying again next interval", self.name)


class OfferSweeper(_Periodic):
    name = "offer-sweeper"

    def __init__(
        self, engine: Engine, ctx: DispatchContext, *, interval_s: float, after_change: Callable[[], None]
    ) -> None:
        super().__init__(interval_s)
        self._engine, self._ctx = engine, ctx
        self._after_change = after_change

    def sweep(self) -> int:
        with Session(self._engine, expire_on_commit=False) as session:
            released = release_unaccepted_offers(
                session, self._ctx, expired_at=now(), why="offer not answered before its deadline"
            )
            released += route_waiting_jobs(session, self._ctx)
        if released:
            self._after_change()
        return released

    run_once = sweep


class RegistryRefresher(_Periodic):
    """Replaces the in-memory registry and fairness ledger with what the database holds.

    `lock` is the one status handling holds while it writes a status and copies it into the
    registry: a reload never interleaves with that, so it cannot put back a state this
    replica has just replaced. Another replica's slower write of an older status can still be
    read; the next status or reload corrects it (staleness bounded by the interval).
    """

    name = "registry-refresh"

    def __init__(
        self, engine: Engine, ctx: DispatchContext, *, interval_s: float, lock: AbstractContextManager | None = None
    ) -> None:
        super().__init__(interval_s)
        self._engine, self._ctx = engine, ctx
        self._lock = lock or nullcontext()

    def refresh(self) -> int:
        with self._lock, Session(self._engine) as session:
            load_registry(session, self._ctx.registry)
        with Session(self._engine) as session:
            load_fairness(session, self._ctx.fairness)
        return len(self._ctx.registry)

    run_once = refresh


class UploadPurger(_Periodic):
    """Purges once when started, then every `interval_s` (0: only the start-up purge)."""

    name = "upload-purge"

    def __init__(self, engine: Engine, store: FileStore, *, interval_s: float) -> None:
        super().__init__(interval_s)
        self._engine, self._store = engine, store

    def start(self) -> None:
        """A hub that was down for a day comes back with a clean staging area; a failed
        start-up purge is logged and left to the next run rather than keeping the hub down."""
        try:
            self.purge()
        except Exception:
            log.exception("start-up purge of expired uploads failed; the periodic purge will try again")
        if self._interval_s > 0:
            super().start()

    def purge(self) -> int:
        with Session(self._engine) as session:
            purged = purge_expired_uploads(session, self._store)
        if purged:
            log.info("expired uploads purged", extra={"uploads": purged})
        return purged

    run_once = purge
