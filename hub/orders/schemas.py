from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class OrderCreate(BaseModel):
    design_id: str
    material: str = Field(default="PLA", min_length=1, max_length=32)
    quantity: int = Field(default=1, ge=1, le=100)
    lat: float = Field(ge=-90, le=90, description="Maker's location, WGS84.")
    lon: float = Field(ge=-180, le=180)


class JobPublic(BaseModel):
    id: str
    status: str
    file_name: str
    node_id: str | None
    machine_id: str | None
    distance_km: float | None
    percent: float | None
    attempts: int
    declined_by: list[str]
    reason: str | None
    created_at: float
    completed_at: float | None


class OrderEventPublic(BaseModel):
    at: float
    kind: str
    job_id: str | None
    node_id: str | None
    message: str
    data: dict[str, Any]


class OrderPublic(BaseModel):
    id: str
    design_id: str
    material: str
    quantity: int
    lat: float
    lon: float
    status: str
    created_at: float
    updated_at: float
    completed_at: float | None
    jobs: list[JobPublic]
    events: list[OrderEventPublic]
