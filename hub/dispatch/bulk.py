"""Insert a transaction's new rows in one statement per table.

The dispatch hot path (an order of many copies, a batch of node events) makes a few rows per
job: the job, its offer in the outbox, a line of the order's history. The ORM's unit of work
spends about as long on each of those objects as the rest of the job's handling; a Core
executemany per table writes the same rows for a fraction of it. Used where the rows are new
and nothing reads them back as objects within the transaction.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlmodel import Session, SQLModel


def insert_new(session: Session, models: list[type[SQLModel]]) -> int:
    """Take the session's pending objects of `models` out of the unit of work and insert them
    with one executemany per model, in the order given (parents before children). Returns how
    many rows were written. A column left None with a server-side default (an autoincrement
    id) is omitted so the database fills it in."""
    batches = []
    pending = list(session.new)
    for model in models:
        objects = [obj for obj in pending if type(obj) is model]
        if not objects:
            continue
        columns = [column.key for column in model.__table__.columns]
        rows = []
        for obj in objects:
            row = {key: getattr(obj, key) for key in columns}
            if row.get("id", 0) is None:
                del row["id"]
            rows.append(row)
            session.expunge(obj)
        batches.append((model, rows))
    # Taken out of the unit of work above, before any statement: Session.execute autoflushes.
    with session.no_autoflush:
        for model, rows in batches:
            # Rows with and without an explicit id must not share one executemany.
            for group in (_with_keys(rows, True), _with_keys(rows, False)):
                if group:
                    session.execute(insert(model.__table__), group)
    return sum(len(rows) for _, rows in batches)


def _with_keys(rows: list[dict], with_id: bool) -> list[dict]:
    return [row for row in rows if ("id" in row) is with_id]
