from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hub.orders.models import JobStatus, OrderStatus


class OrderCreate(BaseModel):
    design_id: str
    material: str = Field(default="PLA", min_length=1, max_length=32)
    colour: str | None = Field(default=None, max_length=32)
    nozzle_mm: float | None = Field(default=None, gt=0, le=5)
    quantity: int = Field(default=1, ge=1, le=100)
    lat: float = Field(ge=-90, le=90, description="Maker's location, WGS84.")
    lon: float = Field(ge=-180, le=180)
    lead_time_h: float | None = Field(default=None, gt=0, le=24 * 90, description="Needed within this many hours.")
    paid: bool = Field(default=True, description="False: an unpaid, non-commercial job (nothing is charged).")


class OrderPlaced(BaseModel):
    """The answer to placing an order: what was created, not the full view.

    The full view (every job's match, score and price, the history with each offer's
    reasons) is tens of kilobytes for a large order, and building it cost more than placing
    the order; a client that wants it follows the `Location` header (GET the order)."""

    id: str
    status: OrderStatus = Field(description="The order's status once its jobs were routed: placed, failed...")
    job_count: int = Field(description="Jobs created: one per copy of every part.")
    job_ids: list[str]
    price_total: float = Field(description="Sum of the offered labs' prices (0 for jobs not offered yet).")


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    file_name: str
    node_id: str | None
    machine_id: str | None
    distance_km: float | None
    percent: float | None
    attempts: int
    declined_by: list[str]
    reason: str | None
    offer_deadline: float | None
    price: dict[str, Any] | None = Field(None, description="Price breakdown at offer time, with its basis.")
    score: dict[str, float] | None = Field(None, description="The ranking's parts for the chosen lab.")
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
    colour: str | None
    quantity: int
    lat: float
    lon: float
    lead_time_h: float | None
    paid: bool
    price_total: float
    status: OrderStatus
    created_at: float
    updated_at: float
    completed_at: float | None
    jobs: list[JobPublic]
    events: list[OrderEventPublic]


class QuoteRequest(BaseModel):
    design_id: str
    material: str = Field(default="PLA", min_length=1, max_length=32)
    colour: str | None = None
    nozzle_mm: float | None = Field(default=None, gt=0, le=5)
    quantity: int = Field(default=1, ge=1, le=100)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    lead_time_h: float | None = Field(default=None, gt=0)
    paid: bool = True
    top: int = Field(default=3, ge=1, le=20)


class PartQuote(BaseModel):
    file_name: str
    quantity: int
    candidates: list[dict[str, Any]] = Field(description="Best labs first: checks, score parts, price, lead time.")
    rejected: dict[str, list[dict[str, Any]]] = Field(description="Labs considered that cannot, with every check.")
    evaluated_labs: int
    total_labs: int


class Quote(BaseModel):
    design_id: str
    parts: list[PartQuote]
    total_best: float | None = Field(description="Sum over parts of the best lab's price x quantity.")
    currency: str | None
