"""New rows of a transaction as plain dicts, written in one statement per table at commit.

The dispatch hot path makes a few rows per job: the job, its offer in the outbox, a line of
the order's history. Built as ORM objects, each costs SQLModel's validation, SQLAlchemy's
instrumentation and the unit of work's bookkeeping: py-spy put ~40 us on every history line
alone, about as much as the rest of handling the job. A dict staged here and written with one
Core executemany per table costs a few microseconds.

`stage` keeps a row on the session; the session's `before_commit` hook writes what is staged
(`write_staged`: the ORM's pending objects are flushed first, so a staged row may point at an
ORM object added in the same transaction), so no commit leaves a staged row behind, and the
end of a transaction that did not commit (a rollback, a closed session) drops them. Staged
rows are invisible to queries until written: a caller that reads them back calls
`write_staged` first. Only the outermost transaction counts: a row staged inside a savepoint
that is rolled back is still written, so the hot paths that stage use none. A row carries
every column the statement writes (Core applies no model defaults); the database fills in an autoincrement id left out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, Table, event, insert
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "cofab.staged_rows"


def stage(session: Session, table: Table, row: dict[str, Any]) -> None:
    """Write `row` into `table` with this transaction (at its commit or `write_staged`)."""
    staged: dict[Table, list[dict[str, Any]]] | None = session.info.get(_KEY)
    if staged is None:
        if not session.in_transaction():
            # Staged rows belong to a transaction: one begun now ends (and drops them) with the
            # next rollback even if no statement ran in it yet.
            session.begin()
        staged = session.info[_KEY] = {}
    rows = staged.get(table)
    if rows is None:
        rows = staged[table] = []
    rows.append(row)


def staged_count(session: Session) -> int:
    """Rows staged and not yet written (for tests and tools)."""
    return sum(len(rows) for rows in session.info.get(_KEY, {}).values())


def write_staged(session: Session) -> int:
    """Insert every staged row now, parents before children; returns how many were written."""
    staged: dict[Table, list[dict[str, Any]]] | None = session.info.pop(_KEY, None)
    if not staged:
        return 0
    session.flush()  # ORM objects of this transaction first: staged rows may reference them
    order = _dependency_order(next(iter(staged)).metadata)
    written = 0
    with session.no_autoflush:
        for table in sorted(staged, key=lambda t: order.get(t, len(order))):
            # One executemany per set of keys: rows of one statement must name the same columns.
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in staged[table]:
                groups.setdefault(tuple(row), []).append(row)
            for rows in groups.values():
                session.execute(insert(table), rows)
                written += len(rows)
    return written


_ORDERS: dict[tuple[int, int], dict[Table, int]] = {}


def _dependency_order(metadata: MetaData) -> dict[Table, int]:
    """Each table's place among its metadata's tables, parents first. `sorted_tables` sorts
    anew on every call (it took a fifth of `write_staged`), so the order is kept per
    metadata and number of tables."""
    key = (id(metadata), len(metadata.tables))
    order = _ORDERS.get(key)
    if order is None:
        order = _ORDERS[key] = {table: i for i, table in enumerate(metadata.sorted_tables)}
    return order


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    write_staged(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: committed (already written) or rolled back (dropped).
    if transaction.parent is None:
        session.info.pop(_KEY, None)
