from __future__ import annotations

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class Node(SQLModel, table=True):
    __tablename__ = "nodes"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    city: str = Field(default="", max_length=200)
    lat: float
    lon: float
    online: bool = Field(default=False, index=True)
    last_status_at: float | None = None
    created_at: float


class Machine(SQLModel, table=True):
    """A machine as registered, with the state its node last reported."""

    __tablename__ = "machines"
    __table_args__ = (UniqueConstraint("node_id", "machine_id"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(foreign_key="nodes.id", index=True, max_length=64)
    machine_id: str = Field(max_length=64)
    process: str = Field(max_length=16)
    build_x_mm: float
    build_y_mm: float
    build_z_mm: float
    materials: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="unknown", max_length=32)
    queue_length: int = 0
