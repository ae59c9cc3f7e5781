from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class Membership(StrEnum):
    """A lab joins as pending; active members (or an admin) approve it; inactive labs get no jobs."""

    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Node(SQLModel, table=True):
    """A fab lab and its node agent, described compatibly with Open Know-Where (OKW)."""

    __tablename__ = "nodes"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    city: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=500)
    country: str = Field(default="", max_length=2)
    lat: float
    lon: float
    timezone: str = Field(default="UTC", max_length=64)
    opening_hours: str = Field(
        default="24/7", max_length=500, description="OpenStreetMap opening_hours syntax, in the lab's timezone."
    )
    access_type: str = Field(default="membership", max_length=64)
    membership: str = Field(default=Membership.PENDING, index=True, max_length=16)
    auto_accept: bool = True
    accepts_unpaid: bool = True
    currency: str = Field(default="EUR", max_length=3)
    material_price_per_kg: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    machine_rate_per_hour: float = 6.0
    labour_per_job: float = 3.0
    online: bool = Field(default=False, index=True)
    last_status_at: float | None = None
    # `sent_at` (the node's clock) of the status applied last: an older one is stale.
    status_sent_at: float | None = None
    # `connection_epoch` of the status applied last: a status of an earlier connection is stale.
    status_connection_epoch: float | None = None
    created_at: float


class Machine(SQLModel, table=True):
    """A machine as registered, with the live capabilities its node last reported."""

    __tablename__ = "machines"
    __table_args__ = (UniqueConstraint("node_id", "machine_id"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(foreign_key="nodes.id", index=True, max_length=64)
    machine_id: str = Field(max_length=64)
    process: str = Field(max_length=16)
    make: str = Field(default="", max_length=100)
    model: str = Field(default="", max_length=100)
    build_x_mm: float
    build_y_mm: float
    build_z_mm: float
    materials: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    colours: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    nozzle_mm: float | None = None
    laser_power_w: float | None = None
    volumetric_rate_mm3_s: float = 8.0
    queue_limit: int = 5
    state: str = Field(default="unknown", max_length=32)
    queue_length: int = 0
    material_loaded: str | None = Field(default=None, max_length=32)
    colour_loaded: str | None = Field(default=None, max_length=32)
    eta_free_s: float = 0.0


class MembershipApproval(SQLModel, table=True):
    """One vote for a pending lab, by an active member lab or an admin."""

    __tablename__ = "membership_approvals"
    __table_args__ = (UniqueConstraint("node_id", "approver"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(foreign_key="nodes.id", index=True, max_length=64)
    approver: str = Field(max_length=80, description="`node:<id>` or `admin:<token id>`.")
    at: float
