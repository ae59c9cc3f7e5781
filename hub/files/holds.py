"""Holds on stored objects, keyed by sha256, that last as long as a database transaction.

The store is shared by content: an upload of bytes that are already stored adds no object
and relies on the one there (`FileStore.commit` returns False). Clean-up deletes objects no
row refers to: a failed upload takes its new objects back out
(`hub.catalog.uploads.forget_new_objects`), the purge drops expired uploads' content. Rows are
only written when an upload's transaction commits, so "no row refers to it" is not enough:
an upload of the same bytes may have found the object and not committed yet.

So an upload takes a *shared* hold on every object it stores or finds, just before committing
them to the store, until its transaction commits or rolls back; clean-up takes an *exclusive*
hold on an object before it looks for rows referring to it, and keeps it until its own
transaction ends. A failed upload's clean-up therefore waits for the uploads in flight and
then sees their rows (or none, if they failed too); the purge does not wait but leaves held
objects to a later run. Either way an upload never finds an object that is being deleted.

SQLite is one hub process, so the holds are a table in this process (`ObjectHolds`).
On PostgreSQL several replicas may share one file store: the holds are transaction-level
advisory locks keyed by the hash, shared or exclusive, which PostgreSQL also drops when a
replica dies with its connection.

Deadlock-free because the holds that wait are taken in one call per transaction: an upload
makes one `hold_shared` call (ingest's, or `parts_from_uploads`), a failed upload's clean-up
one `hold_exclusive` call. In-process a call takes all its hashes at once or none; on
PostgreSQL it locks their keys one at a time in ascending order, so no holder waits for a key
lower than one it has and no two can wait for each other. The purge only tries (`try_hold_exclusive`, which never
waits) and skips content held by others until a later run. Exclusive holds wait at most
`timeout_s`; past it `HoldTimeout` is raised and the caller keeps the objects (a stray object
wastes disk, a missing one breaks a design).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction

from hub.db import advisory_lock

__all__ = [
    "CLEANUP_WAIT_S",
    "LOCAL",
    "HoldTimeout",
    "ObjectHolds",
    "hold_exclusive",
    "hold_shared",
    "lock_key",
    "try_hold_exclusive",
]

log = logging.getLogger(__name__)

CLEANUP_WAIT_S = 30.0  # how long a clean-up waits for uploads holding its objects

_PENDING = "cofab.object_holds"  # Session.info key: this process's holds to release at transaction end
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout fires


class HoldTimeout(TimeoutError):
    """Objects stayed held by others for longer than a clean-up waits."""


class ObjectHolds:
    """Shared and exclusive holds by sha256 within this process.

    A hash is held shared by any number of holders or exclusively by one. `acquire` takes all
    the hashes at once or none (so holders never wait while holding), waiting while any of them
    is held in a conflicting way."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._shared: Counter[str] = Counter()
        self._exclusive: set[str] = set()

    def _free(self, hashes: frozenset[str], exclusive: bool) -> bool:
        if exclusive:
            return not any(self._shared[h] or h in self._exclusive for h in hashes)
        return self._exclusive.isdisjoint(hashes)

    def acquire(self, hashes: Iterable[str], *, exclusive: bool, timeout_s: float | None = None) -> None:
        """Hold `hashes`; raises HoldTimeout (holding none) after `timeout_s` (None: no limit)."""
        wanted = frozenset(hashes)
        with self._changed:
            if not self._free(wanted, exclusive):
                log.info(
                    "waiting for objects held by another transaction",
                    extra={"objects": sorted(wanted), "exclusive": exclusive},
                )
                if not self._changed.wait_for(lambda: self._free(wanted, exclusive), timeout_s):
                    raise HoldTimeout(f"objects still held after {timeout_s} s")
            self._take(wanted, exclusive)

    def try_acquire(self, hashes: Iterable[str], *, exclusive: bool) -> bool:
        """Hold `hashes` if none is held in a conflicting way; never waits. False: holding none."""
        wanted = frozenset(hashes)
        with self._changed:
            if not self._free(wanted, exclusive):
                return False
            self._take(wanted, exclusive)
            return True

    def _take(self, wanted: frozenset[str], exclusive: bool) -> None:
        if exclusive:
            self._exclusive.update(wanted)
        else:
            self._shared.update(wanted)

    def release(self, hashes: Iterable[str], *, exclusive: bool) -> None:
        wanted = frozenset(hashes)
        with self._changed:
            if exclusive:
                self._exclusive.difference_update(wanted)
            else:
                self._shared.subtract(wanted)
                for h in wanted:
                    if self._shared[h] <= 0:
                        del self._shared[h]
            self._changed.notify_all()

    def held(self, sha256: str) -> bool:
        """Whether anyone holds `sha256` (for tests and diagnostics)."""
        with self._changed:
            return bool(self._shared[sha256]) or sha256 in self._exclusive


# One table per process, like PostgreSQL's one lock table per database: every store and
# session in this process sees the same holds.
LOCAL = ObjectHolds()


def hold_shared(session: Session, hashes: Iterable[str]) -> None:
    """An upload's hold on the objects it is about to store or find, until `session`'s
    transaction ends. Waits while a clean-up holds one of them (its checks and deletes), and
    on PostgreSQL also behind a clean-up queued for another upload's objects, so call it off
    the event loop: that other upload may need the loop to finish."""
    _hold(session, hashes, exclusive=False, timeout_s=None)


def hold_exclusive(session: Session, hashes: Iterable[str], *, timeout_s: float = CLEANUP_WAIT_S) -> None:
    """A clean-up's hold on objects it may delete, until `session`'s transaction ends: waits
    for the uploads holding them to commit or roll back. Raises HoldTimeout after `timeout_s`
    (on PostgreSQL the transaction is then aborted and must be rolled back). It blocks, so
    call it off the event loop."""
    _hold(session, hashes, exclusive=True, timeout_s=timeout_s)


def try_hold_exclusive(session: Session, hashes: Iterable[str]) -> bool:
    """Hold `hashes` exclusively until `session`'s transaction ends if no other transaction
    holds any of them; never waits. False when one is held: in-process none is held then; on
    PostgreSQL the ones before it (in sorted order) stay held until the transaction ends, so
    the caller must treat them as not held. Leave out hashes this transaction already holds
    exclusively: in-process its own holds would stop it. For the purge, which leaves such
    content to a later run."""
    return _hold(session, hashes, exclusive=True, timeout_s=None, wait=False)


def _hold(
    session: Session, hashes: Iterable[str], *, exclusive: bool, timeout_s: float | None, wait: bool = True
) -> bool:
    """Hold `hashes` until the transaction ends; without `wait`, False at once if one is held."""
    wanted = sorted(set(hashes))
    if not wanted:
        return True
    connection = session.connection()  # begins the transaction the holds belong to
    if connection.dialect.name == "postgresql":
        if not wait:
            return all(
                advisory_lock(connection, lock_key(h), shared=not exclusive, transaction=True, wait=False)
                for h in wanted
            )
        _hold_advisory(connection, wanted, exclusive=exclusive, timeout_s=timeout_s)
        return True
    if wait:
        LOCAL.acquire(wanted, exclusive=exclusive, timeout_s=timeout_s)
    elif not LOCAL.try_acquire(wanted, exclusive=exclusive):
        return False
    _release_at_end(session, wanted, exclusive=exclusive)
    return True


def _release_at_end(session: Session, hashes: list[str], *, exclusive: bool) -> None:
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_transaction_end", _release_pending)
    pending.append((hashes, exclusive))


def _release_pending(session: Session, transaction: SessionTransaction) -> None:
    """Give this process's holds back when the session's outermost transaction ends
    (committed, rolled back or closed); a savepoint ending is not the end."""
    if transaction.parent is not None:
        return
    pending = session.info.get(_PENDING) or []
    while pending:
        hashes, exclusive = pending.pop()
        LOCAL.release(hashes, exclusive=exclusive)


def lock_key(sha256: str) -> int:
    """The advisory-lock key of an object: its hash's first 64 bits as a signed bigint. Two
    objects sharing a key only wait for each other needlessly."""
    key = int(sha256[:16], 16)
    return key - (1 << 64) if key >= 1 << 63 else key


def _hold_advisory(connection: Connection, hashes: list[str], *, exclusive: bool, timeout_s: float | None) -> None:
    by_key = {lock_key(h): h for h in hashes}
    previous = None
    if timeout_s is not None:
        previous = connection.execute(
            text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :limit, true)"),
            {"limit": f"{max(1, int(timeout_s * 1000))}ms"},
        ).one()[0]
    try:
        for key in sorted(by_key):
            if advisory_lock(connection, key, shared=not exclusive, transaction=True, wait=False):
                continue
            log.info(
                "waiting for objects held by another transaction",
                extra={"objects": [by_key[key]], "exclusive": exclusive},
            )
            advisory_lock(connection, key, shared=not exclusive, transaction=True)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise HoldTimeout(f"objects still held after {timeout_s} s") from exc
        raise
    if previous is not None:
        connection.execute(text("SELECT set_config('lock_timeout', :previous, true)"), {"previous": previous})
