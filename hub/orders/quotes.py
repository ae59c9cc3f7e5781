"""Quotes: for a design, material, quantity and place, the best few labs with the price broken
down, lead time and distance, and for every lab that was considered and cannot, why."""

from __future__ import annotations

from sqlmodel import Session

from hub.catalog.service import current_parts
from hub.dispatch.context import DispatchContext
from hub.dispatch.offers import REASONS_KEPT, job_spec, match_job
from hub.orders.schemas import PartQuote, Quote, QuoteRequest
from hub.orders.service import draft_order, orderable_design


def quote(session: Session, ctx: DispatchContext, body: QuoteRequest) -> Quote:
    """Match every part of the design as an order would, without placing anything."""
    design = orderable_design(session, body.design_id)
    files = current_parts(session, design.id)
    probe = draft_order(body, order_id="quote", maker_token_id=0, at=0)
    parts: list[PartQuote] = []
    total: float | None = 0.0
    currency: str | None = None
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
                rejected={
                    node: [c.as_dict() for c in checks] for node, checks in list(result.rejected.items())[:REASONS_KEPT]
                },
                evaluated_labs=result.evaluated_labs,
                total_labs=result.total_labs,
            )
        )
    return Quote(
        design_id=design.id, parts=parts, total_best=round(total, 2) if total is not None else None, currency=currency
    )
