"""Read-only queries the web faces need and the domain services do not offer: catalog cards
with thumbnails, a designer's remixes, orders and share earned, a lab's console, an order's
live snapshot. They read the tables of the other domains and write nothing, so the domains'
own services stay the only writers.

Money shown here comes from the price breakdown stored on each job at offer time
(`jobs.match.price`): the designer's share is `designer_share`, the lab's own price is
`material + machine_time + labour` (what the maker pays less the designer's share and the
cooperative fee).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog.models import Design, DesignFile, DesignRemix, DesignVersion, FileDerivative
from hub.catalog.schemas import DesignSummary
from hub.metrics.service import month_of
from hub.nodes.models import Machine, Membership, Node
from hub.orders.models import (
    STARTED,
    TERMINAL_JOB_STATES,
    TERMINAL_ORDER_STATES,
    UNACCEPTED,
    Job,
    JobStatus,
    Order,
    OrderEvent,
)
from hub.orders.service import as_seen_by, order_view
from hub.timeutil import now


def _price(job: Job) -> dict[str, Any]:
    return (job.match or {}).get("price") or {}


def lab_price(job: Job) -> float:
    """What the lab itself earns for the job: material + machine time + labour."""
    p = _price(job)
    return round(sum(float(p.get(k) or 0) for k in ("material", "machine_time", "labour")), 2)


def designer_share(job: Job) -> float:
    return float(_price(job).get("designer_share") or 0)


# --- catalog ---------------------------------------------------------------------------------


def thumbnails(session: Session, designs: Sequence[DesignSummary]) -> dict[str, str]:
    """design id -> URL of the first part's thumbnail in its latest version (when one was rendered)."""
    ids = [d.id for d in designs if d.latest_version]
    if not ids:
        return {}
    latest = {d.id: d.latest_version for d in designs}
    rows = session.exec(
        select(DesignFile, DesignVersion.number)
        .join(DesignVersion, col(DesignVersion.id) == DesignFile.version_id)
        .where(col(DesignFile.design_id).in_(ids))
        .order_by(col(DesignFile.id))
    )
    first: dict[str, tuple[DesignFile, int]] = {}
    for design_file, number in rows:
        if number == latest[design_file.design_id]:
            first.setdefault(design_file.design_id, (design_file, number))
    shas = {f.sha256 for f, _ in first.values()}
    with_thumb = (
        set(
            session.exec(
                select(FileDerivative.source_sha256).where(
                    col(FileDerivative.source_sha256).in_(list(shas)), FileDerivative.kind == "thumbnail"
                )
            )
        )
        if shas
        else set()
    )
    return {
        did: f"/api/v1/designs/{did}/versions/{n}/files/{f.id}/thumbnail.png"
        for did, (f, n) in first.items()
        if f.sha256 in with_thumb
    }


def design_choices(session: Session, limit: int = 200) -> list[tuple[str, str, str]]:
    """(id, title, licence) of recent designs, for the remix pickers."""
    return [
        (d.id, d.title, d.licence)
        for d in session.exec(select(Design).order_by(col(Design.created_at).desc()).limit(limit))
    ]


def labs_for_map(session: Session) -> list[dict[str, Any]]:
    """Active labs with their place, for the quote map."""
    return [
        {
            "id": n.id,
            "name": n.name,
            "city": n.city,
            "address": n.address,
            "lat": n.lat,
            "lon": n.lon,
            "online": n.online,
        }
        for n in session.exec(select(Node).where(Node.membership == Membership.ACTIVE.value).order_by(Node.id))
    ]


# --- designer --------------------------------------------------------------------------------


@dataclass
class DesignerOverview:
    designs: list[dict[str, Any]]
    remixes: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    share_earned: float
    share_pending: float
    currency: str


def designer_overview(session: Session, designer: Principal) -> DesignerOverview:
    """The designer's designs, the remixes others made of them, and the orders made from them
    with the designer's share: earned for completed parts, pending for parts still under way.
    The share goes to the design's own publisher; ancestors of a remix are credited, not paid."""
    query = select(Design).order_by(col(Design.created_at).desc())
    if designer.role is not Role.ADMIN:
        query = query.where(Design.owner_token_id == designer.token_id)
    mine = list(session.exec(query))
    titles = {d.id: d.title for d in mine}
    remixes = _remixes_of(session, titles) if mine else []
    orders, earned, pending, currency = _orders_of(session, titles) if mine else ([], 0.0, 0.0, "EUR")
    counts: dict[str, int] = {}
    for order in orders:
        counts[order["design_id"]] = counts.get(order["design_id"], 0) + 1
    designs = [
        {
            "id": d.id,
            "title": d.title,
            "licence": d.licence,
            "latest_version": d.latest_version,
            "orders": counts.get(d.id, 0),
            "remixes": sum(r["parent_id"] == d.id for r in remixes),
            "created_at": d.created_at,
        }
        for d in mine
    ]
    return DesignerOverview(
        designs=designs,
        remixes=remixes,
        orders=orders,
        share_earned=round(earned, 2),
        share_pending=round(pending, 2),
        currency=currency,
    )


def _remixes_of(session: Session, titles: dict[str, str]) -> list[dict[str, Any]]:
    """Direct remixes of the designs in `titles` (id -> title), newest first."""
    links = list(session.exec(select(DesignRemix).where(col(DesignRemix.parent_id).in_(list(titles)))))
    children = (
        {d.id: d for d in session.exec(select(Design).where(col(Design.id).in_([link.design_id for link in links])))}
        if links
        else {}
    )
    remixes: list[dict[str, Any]] = [
        {
            "id": child.id,
            "title": child.title,
            "author": child.author,
            "licence": child.licence,
            "parent_id": link.parent_id,
            "parent_title": titles[link.parent_id],
            "created_at": child.created_at,
        }
        for link in links
        if (child := children.get(link.design_id)) is not None
    ]
    remixes.sort(key=lambda r: -r["created_at"])
    return remixes


def _orders_of(session: Session, titles: dict[str, str]) -> tuple[list[dict[str, Any]], float, float, str]:
    """Orders of the designs in `titles`, newest first, with the designer's share of each;
    and the shares earned and pending in all, and their currency."""
    query = select(Order).where(col(Order.design_id).in_(list(titles))).order_by(col(Order.created_at).desc())
    all_orders = list(session.exec(query))
    jobs_by_order: dict[str, list[Job]] = {}
    if all_orders:
        for job in session.exec(select(Job).where(col(Job.order_id).in_([o.id for o in all_orders]))):
            jobs_by_order.setdefault(job.order_id, []).append(job)
    orders = []
    earned = pending = 0.0
    currency = "EUR"
    for order in all_orders:
        jobs = jobs_by_order.get(order.id, [])
        done = sum(designer_share(j) for j in jobs if j.status == JobStatus.COMPLETED.value)
        open_ = sum(designer_share(j) for j in jobs if not JobStatus(j.status).is_terminal)
        earned += done
        pending += open_
        currency = next((_price(j)["currency"] for j in jobs if _price(j).get("currency")), currency)
        orders.append(
            {
                "id": order.id,
                "design_id": order.design_id,
                "design_title": titles[order.design_id],
                "status": order.status,
                "parts": len(jobs),
                "paid": order.paid,
                "parts_done": sum(j.status == JobStatus.COMPLETED.value for j in jobs),
                "share_earned": round(done, 2),
                "share_pending": round(open_, 2),
                "created_at": order.created_at,
            }
        )
    return orders, earned, pending, currency


# --- lab -------------------------------------------------------------------------------------


def lab_console(session: Session, node_id: str) -> dict[str, Any] | None:
    """Everything the lab's console shows, as plain JSON (the page renders it and the console
    stream re-sends it when it changes)."""
    node = session.get(Node, node_id)
    if node is None:
        return None
    machines = list(session.exec(select(Machine).where(Machine.node_id == node_id).order_by(Machine.machine_id)))
    open_jobs = list(
        session.exec(
            select(Job)
            .where(Job.node_id == node_id, col(Job.status).in_([s.value for s in UNACCEPTED | STARTED]))
            .order_by(col(Job.created_at), Job.id)
        )
    )
    history = list(
        session.exec(
            select(Job)
            .where(Job.node_id == node_id, col(Job.status).in_([s.value for s in TERMINAL_JOB_STATES]))
            .order_by(col(Job.updated_at).desc())
            .limit(50)
        )
    )
    done = list(session.exec(select(Job).where(Job.node_id == node_id, Job.status == JobStatus.COMPLETED.value)))
    files = _files(session, [j.design_file_id for j in open_jobs + history])
    designs = _designs(session, {f.design_id for f in files.values()})
    orders = (
        {
            o.id: o
            for o in session.exec(select(Order).where(col(Order.id).in_([j.order_id for j in open_jobs + history])))
        }
        if open_jobs or history
        else {}
    )
    running = {j.machine_id: j for j in open_jobs if j.status == JobStatus.RUNNING.value}
    rows = _JobRows(node, files, designs, orders)
    return {
        "node": {
            "id": node.id,
            "name": node.name,
            "city": node.city,
            "online": node.online,
            "membership": node.membership,
            "auto_accept": node.auto_accept,
            "currency": node.currency,
            "last_status_at": node.last_status_at,
        },
        "machines": [_machine_row(m, running.get(m.machine_id)) for m in machines],
        "offers": [rows.row(j, detail=True) for j in open_jobs if j.status in UNACCEPTED],
        "queue": [rows.row(j) for j in open_jobs if j.status in STARTED],
        "history": [rows.row(j) for j in history],
        "earnings": _earnings(done, node.currency),
    }


def _machine_row(m: Machine, running: Job | None) -> dict[str, Any]:
    return {
        "machine_id": m.machine_id,
        "process": m.process,
        "make": m.make,
        "model": m.model,
        "state": m.state,
        "material_loaded": m.material_loaded,
        "colour_loaded": m.colour_loaded,
        "materials": m.materials,
        "queue_length": m.queue_length,
        "queue_limit": m.queue_limit,
        "eta_free_s": m.eta_free_s,
        "build_volume_mm": [m.build_x_mm, m.build_y_mm, m.build_z_mm],
        "temperatures": None,
        "job_id": running.id if running else None,
        "percent": running.percent if running else None,
    }


@dataclass(frozen=True)
class _JobRows:
    """What a console's job rows are joined with, read once per console."""

    node: Node
    files: dict[int, DesignFile]
    designs: dict[str, Design]
    orders: dict[str, Order]

    def row(self, job: Job, *, detail: bool = False) -> dict[str, Any]:
        design_file = self.files.get(job.design_file_id)
        design = self.designs.get(design_file.design_id) if design_file else None
        order = self.orders.get(job.order_id)
        row = {
            "id": job.id,
            "order_id": job.order_id,
            "status": job.status,
            "machine_id": job.machine_id,
            "percent": job.percent,
            "file_name": design_file.filename if design_file else "",
            "design_id": design.id if design else None,
            "design_title": design.title if design else "",
            "licence": design.licence if design else "",
            "material": order.material if order else "",
            "colour": order.colour if order else None,
            "distance_km": job.distance_km,
            "lab_price": lab_price(job),
            "currency": _price(job).get("currency", self.node.currency),
            "reason": job.reason,
            "updated_at": job.updated_at,
            "completed_at": job.completed_at,
            "offer_deadline": job.offer_deadline,
        }
        if detail:
            row["checks"] = (job.match or {}).get("checks", [])
            row["price"] = _price(job)
            row["analysis"] = _analysis_summary(design_file)
            row["can_decide"] = job.status == JobStatus.AWAITING_ACCEPTANCE.value
        return row


def _earnings(done: list[Job], currency: str) -> dict[str, Any]:
    by_month: dict[str, float] = {}
    for job in done:
        if job.completed_at:
            key = month_of(job.completed_at)
            by_month[key] = round(by_month.get(key, 0.0) + lab_price(job), 2)
    return {
        "total": round(sum(lab_price(j) for j in done), 2),
        "parts": len(done),
        "by_month": dict(sorted(by_month.items(), reverse=True)),
        "currency": currency,
    }


def _files(session: Session, ids: Iterable[int]) -> dict[int, DesignFile]:
    ids = list(set(ids))
    if not ids:
        return {}
    files = session.exec(select(DesignFile).where(col(DesignFile.id).in_(ids)))
    return {f.id: f for f in files if f.id is not None}  # stored rows: the test is for the type checker


def _designs(session: Session, ids: Iterable[str]) -> dict[str, Design]:
    ids = list(set(ids))
    return {d.id: d for d in session.exec(select(Design).where(col(Design.id).in_(ids)))} if ids else {}


def _analysis_summary(design_file: DesignFile | None) -> dict[str, Any]:
    if design_file is None:
        return {}
    analysis = design_file.analysis or {}
    return {
        "verdict": design_file.verdict,
        "watertight": design_file.watertight,
        "faces": design_file.faces,
        "volume_mm3": design_file.volume_mm3,
        "size_mm": [design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm],
        "reasons": list(analysis.get("reasons") or []),
        "overhang_fraction": analysis.get("overhang_fraction"),
    }


# --- maker -----------------------------------------------------------------------------------


def order_snapshot(session: Session, order_id: str, caller: Principal, grid_deg: float) -> dict[str, Any] | None:
    """The order as the API shows it to `caller`, plus what the page adds: the design's title,
    the labs' places for the map, whether it is over, and where to pick it up."""
    view = order_view(session, order_id)
    if view is None:
        return None
    data = as_seen_by(view, caller, grid_deg).model_dump(mode="json")
    design = session.get(Design, view.design_id)
    node_ids = sorted({j.node_id for j in view.jobs if j.node_id})
    nodes = {n.id: n for n in session.exec(select(Node).where(col(Node.id).in_(node_ids)))} if node_ids else {}
    data["design_title"] = design.title if design else view.design_id
    data["labs"] = [
        {"id": n.id, "name": n.name, "city": n.city, "address": n.address, "lat": n.lat, "lon": n.lon}
        for n in nodes.values()
    ]
    data["finished"] = view.status in TERMINAL_ORDER_STATES
    data["last_event_id"] = last_event_id(session, order_id)
    data["server_time"] = now()
    return data


def last_event_id(session: Session, order_id: str) -> int:
    ids = session.exec(select(col(OrderEvent.id)).where(OrderEvent.order_id == order_id))
    return max((i for i in ids if i is not None), default=0)  # stored rows: the test is for the type checker


def order_owner(session: Session, order_id: str) -> int | None:
    order = session.get(Order, order_id)
    return None if order is None else order.maker_token_id


def maker_orders(session: Session, maker: Principal, limit: int = 50) -> list[dict[str, Any]]:
    query = select(Order).order_by(col(Order.created_at).desc()).limit(limit)
    if maker.role is not Role.ADMIN:
        query = query.where(Order.maker_token_id == maker.token_id)
    orders = list(session.exec(query))
    designs = _designs(session, {o.design_id for o in orders})
    return [
        {
            "id": o.id,
            "status": o.status,
            "design_title": designs[o.design_id].title if o.design_id in designs else o.design_id,
            "quantity": o.quantity,
            "material": o.material,
            "created_at": o.created_at,
        }
        for o in orders
    ]
