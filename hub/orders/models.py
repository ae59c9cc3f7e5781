from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Dialect, String, TypeDecorator
from sqlmodel import Field, SQLModel


class JobStatus(StrEnum):
    """The job lifecycle. A node accepts only after fetching and checking the file."""

    CREATED = "created"
    WAITING = "waiting"
    """No lab can take it right now, but one could later (offline, busy, closed): retried."""
    OFFERED = "offered"
    FETCHING = "fetching"
    CHECKING = "checking"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    ACCEPTED = "accepted"
    SLICING = "slicing"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


TERMINAL_JOB_STATES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
"""Over: nothing moves the job again, and events about it are ignored."""
PENDING = frozenset({JobStatus.CREATED, JobStatus.WAITING, JobStatus.OFFERED})
"""No lab has done anything with it yet: an order of only these is still `placed`."""
UNACCEPTED = frozenset({JobStatus.OFFERED, JobStatus.FETCHING, JobStatus.CHECKING, JobStatus.AWAITING_ACCEPTANCE})
"""Offered and not yet accepted by the node: the offer may still go to another lab."""
STARTED = frozenset({JobStatus.ACCEPTED, JobStatus.SLICING, JobStatus.QUEUED, JobStatus.RUNNING})
"""Accepted by the node, which has it in hand: never offered elsewhere automatically."""
PROGRESS_STAGES = (UNACCEPTED | STARTED) - {JobStatus.OFFERED, JobStatus.ACCEPTED}
"""The stages a node's progress event may report (fetching ... running)."""
CANCELLABLE = (PENDING | UNACCEPTED | STARTED) - {JobStatus.RUNNING}
"""Not yet on a machine: the maker may still cancel it."""


class OrderStatus(StrEnum):
    """The order's status, computed from its jobs' (`hub.orders.service.set_order_status`)."""

    PLACED = "placed"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_ORDER_STATES = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED})
"""Every job of the order is over."""


class StatusColumn(TypeDecorator[StrEnum]):
    """A `StrEnum` stored as its value in a plain VARCHAR and read back as the member.

    The columns stay the strings they always were (no database enum type, no migration), and
    code reads and writes members: a stray string is refused at the write, not read later."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 20) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True, max_length=40)
    design_id: str = Field(foreign_key="designs.id", index=True, max_length=40)
    maker_token_id: int = Field(foreign_key="api_tokens.id", index=True)
    material: str = Field(max_length=32)
    colour: str | None = Field(default=None, max_length=32)
    nozzle_mm: float | None = None
    quantity: int
    lat: float
    lon: float
    lead_time_h: float | None = None
    paid: bool = True
    status: OrderStatus = Field(
        default=OrderStatus.PLACED, sa_column=Column(StatusColumn(OrderStatus), nullable=False, index=True)
    )
    created_at: float
    updated_at: float
    completed_at: float | None = None


class Job(SQLModel, table=True):
    """One part to make. `last_seq` is the highest event sequence applied from the current node."""

    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=40)
    design_file_id: int = Field(foreign_key="design_files.id")
    status: JobStatus = Field(
        default=JobStatus.CREATED, sa_column=Column(StatusColumn(JobStatus), nullable=False, index=True)
    )
    node_id: str | None = Field(default=None, foreign_key="nodes.id", index=True, max_length=64)
    machine_id: str | None = Field(default=None, max_length=64)
    distance_km: float | None = None
    last_seq: int = 0
    attempts: int = 0
    declined_by: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    percent: float | None = None
    reason: str | None = None
    offered_at: float | None = None
    offer_deadline: float | None = None
    match: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="The chosen candidate: checks, score parts, price breakdown.",
    )
    price_total: float | None = None
    started_at: float | None = None
    created_at: float
    updated_at: float
    completed_at: float | None = None


@dataclass(slots=True)
class NewJob:
    """A job being placed: the same columns as `Job`, as a plain object.

    Placing an order creates one job per copy; routing sets its attributes as it would a
    `Job`'s, then it is inserted as a plain row with the order's other new rows
    (`hub.dispatch.bulk`). A SQLModel object costs its validation and instrumentation on
    every attribute, which on this path cost more than routing the job.
    `tests/hub/dispatch/test_bulk.py` checks the fields match `Job`'s columns."""

    id: str
    order_id: str
    design_file_id: int
    created_at: float
    updated_at: float
    status: JobStatus = JobStatus.CREATED
    node_id: str | None = None
    machine_id: str | None = None
    distance_km: float | None = None
    last_seq: int = 0
    attempts: int = 0
    declined_by: list[str] = field(default_factory=list)
    percent: float | None = None
    reason: str | None = None
    offered_at: float | None = None
    offer_deadline: float | None = None
    match: dict[str, Any] = field(default_factory=dict)
    price_total: float | None = None
    started_at: float | None = None
    completed_at: float | None = None

    def row(self) -> dict[str, Any]:
        """The job as a row of the `jobs` table."""
        return {name: getattr(self, name) for name in _NEW_JOB_FIELDS}


_NEW_JOB_FIELDS = tuple(f.name for f in fields(NewJob))


class OrderEvent(SQLModel, table=True):
    """The order's readable history: what happened, to which job, where, and why."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=40)
    job_id: str | None = Field(default=None, max_length=40)
    at: float
    kind: str = Field(max_length=32)
    node_id: str | None = Field(default=None, max_length=64)
    message: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
