"""A batch's jobs read, locked and written back as plain rows, for applying node events.

Applying an event touches a handful of a job's columns (status, sequence, times, machine).
Loaded as ORM objects, each job cost its instrumentation on load, on every attribute set and
in the unit of work's flush, about a third of the hub's time per event; read here with one
`SELECT ... FOR UPDATE` of those columns and written back with one executemany `UPDATE`
per set of changed columns, it costs a few microseconds. A decline re-routes the job, which
needs the whole job: `orm` flushes the row's changes so far and hands over the ORM object.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from hub.db import table_of
from hub.orders.models import Job, JobStatus

_TABLE = table_of(Job)


@dataclass(slots=True)
class JobRow:
    """The columns of a job that applying an event reads or changes."""

    id: str
    order_id: str
    node_id: str | None
    status: JobStatus
    last_seq: int
    machine_id: str | None
    percent: float | None
    reason: str | None
    started_at: float | None
    completed_at: float | None
    updated_at: float


_COLUMNS = tuple(f.name for f in fields(JobRow))
_values = attrgetter(*_COLUMNS)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))


class LockedJobs:
    """Jobs of one transaction, locked in id order (see `hub.orders.service` on lock order)."""

    def __init__(self, session: Session, ids: list[str]) -> None:
        self._session = session
        self._rows: dict[str, JobRow] = {}
        if ids:
            result = session.execute(
                select(*(_TABLE.c[name] for name in _COLUMNS))
                .where(_TABLE.c.id.in_(sorted(ids)))
                .order_by(_TABLE.c.id)
                .with_for_update()
            )
            self._rows = {row[0]: JobRow(*row) for row in result.tuples()}
        self._written = {job_id: _values(row) for job_id, row in self._rows.items()}

    def get(self, job_id: str) -> JobRow | None:
        return self._rows.get(job_id)

    def write(self) -> int:
        """UPDATE what changed since it was read (or last written); returns how many rows."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for job_id, row in self._rows.items():
            changes = self._changes(row)
            if changes:
                changes["row_id"] = job_id
                groups.setdefault(tuple(changes), []).append(changes)
                self._written[job_id] = _values(row)
        for params in groups.values():
            self._session.execute(_UPDATE, params)
        return sum(len(params) for params in groups.values())

    def orm(self, row: JobRow) -> Job:
        """The job as an ORM object, with this row's changes written first (already locked)."""
        changes = self._changes(row)
        if changes:
            changes["row_id"] = row.id
            self._session.execute(_UPDATE, [changes])
        job = self._session.get(Job, row.id, populate_existing=True)
        assert job is not None, f"job {row.id} vanished while locked"
        return job

    def adopt(self, row: JobRow, job: Job) -> None:
        """The ORM object now holds the job (it is flushed with the session): take its values
        as the row's, so later events of the batch see them and `write` leaves the job alone."""
        for name in _COLUMNS:
            setattr(row, name, getattr(job, name))
        self._written[row.id] = _values(row)

    def _changes(self, row: JobRow) -> dict[str, Any]:
        before = self._written[row.id]
        return {name: value for name, value, old in zip(_COLUMNS, _values(row), before) if value != old}
