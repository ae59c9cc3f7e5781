"""Quotes: for a design, material, quantity and place, the best few labs with the price broken
down, lead time and distance, and for every lab that was considered and cannot, why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from hub.catalog.models import Design
from hub.catalog.service import current_parts
from hub.dispatch.context import DispatchContext
from hub.dispatch.offers import job_spec, match_job
from hub.orders.models import Order
from hub.orders.service import OrderRejected


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


def quote(session: Session, ctx: DispatchContext, body: QuoteRequest) -> Quote:
    design = session.get(Design, body.design_id)
    if design is None:
        raise OrderRejected(f"no design {body.design_id!r}")
    files = current_parts(session, design.id)
    probe = Order(
        id="quote",
        design_id=design.id,
        maker_token_id=0,
        material=body.material,
        colour=body.colour,
        nozzle_mm=body.nozzle_mm,
        quantity=body.quantity,
        lat=body.lat,
        lon=body.lon,
        lead_time_h=body.lead_time_h,
        paid=body.paid,
        created_at=0,
        updated_at=0,
    )
    parts, total, currency = [], 0.0, None
    for design_file in files:
        count = body.quantity * design_file.quantity
        result = match_job(ctx, job_spec(probe, design, design_file), top=body.top)
        if result.ranked and total is not None:
            total += result.ranked[0].price.total * count
            currency = result.ranked[0].price.currency
        else:
            total = None
        parts.append(
            PartQuote(
                file_name=design_file.filename,
                quantity=count,
                candidates=[c.as_dict() for c in result.ranked],
                rejected={node: [c.as_dict() for c in checks] for node, checks in list(result.rejected.items())[:50]},
                evaluated_labs=result.evaluated_labs,
                total_labs=result.total_labs,
            )
        )
    return Quote(
        design_id=design.id, parts=parts, total_best=round(total, 2) if total is not None else None, currency=currency
    )
