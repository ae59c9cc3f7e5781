"""Routing and offering a job: match it to labs, offer it to the best one not yet tried, or
park it (waiting for a lab) or fail it with every lab's reason; and the commands that follow
an offer. Every offer and command is written to the outbox in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from cofab_wire import Attribution, CommandType, JobCommand, JobOffer
from hub.catalog.licences import UnknownLicence, licence_terms
from hub.catalog.lineage import attribution_chain, authors_of
from hub.catalog.models import Design, DesignFile
from hub.dispatch.context import DispatchContext
from hub.dispatch.outbox import COMMAND, OFFER, enqueue
from hub.files.tokens import sign_download
from hub.orders import history
from hub.orders.models import Job, JobStatus, NewJob, Order
from hub.routing.matcher import Candidate, MatchResult, match
from hub.routing.snapshots import JobSpec
from hub.timeutil import now


def commercial_use_allowed(licence: str) -> bool:
    """Whether a paid job may make a design under `licence`; an unknown id counts as no."""
    try:
        return licence_terms(licence).commercial_use_allowed
    except UnknownLicence:
        return False


def offer_attribution(session: Session, design: Design) -> list[Attribution]:
    """The design and every ancestor, nearest first, for the node's G-code header."""
    return [
        Attribution(design_id=a.design_id, title=a.title, authors=list(a.authors), licence=a.licence)
        for a in attribution_chain(session, design.id, include_self=True)
    ]


def job_spec(order: Order, design: Design, design_file: DesignFile) -> JobSpec:
    return JobSpec(
        process=design.process,
        material=order.material,
        colour=order.colour,
        nozzle_mm=order.nozzle_mm,
        size_mm=_size_mm(design_file),
        volume_mm3=design_file.volume_mm3,
        lat=order.lat,
        lon=order.lon,
        lead_time_h=order.lead_time_h,
        paid=order.paid,
        licence=design.licence,
        commercial_use_allowed=commercial_use_allowed(design.licence),
    )


def match_job(
    ctx: DispatchContext, spec: JobSpec, *, exclude: frozenset[str] | set[str] = frozenset(), top: int = 3
) -> MatchResult:
    return match(ctx.registry, spec, weights=ctx.weights, fairness=ctx.fairness, top=top, exclude=exclude)


REASONS_KEPT = 50
"""Labs whose reasons for not taking a job are kept in its history line (the rest are counted)."""


@dataclass(frozen=True, slots=True)
class Lineage:
    """A design as an offer names it: the design and its ancestors, and its authors."""

    attribution: list[Attribution]
    authors: list[str]


@dataclass(frozen=True, slots=True)
class OfferBasis:
    """What an offer to one candidate records on the job and in the history; the same for
    every copy of a part offered to it."""

    match: dict[str, Any]
    score: dict[str, float]
    price: dict[str, Any]


@dataclass(slots=True)
class PartMatch:
    """A part's match result with what offers made from it share, each computed once."""

    result: MatchResult
    _skipped: dict[str, str] | None = None
    _bases: dict[str, OfferBasis] = field(default_factory=dict)

    @property
    def skipped(self) -> dict[str, str]:
        """Why the labs that cannot take the part cannot (the first `REASONS_KEPT`)."""
        if self._skipped is None:
            self._skipped = dict(list(self.result.rejection_reasons().items())[:REASONS_KEPT])
        return self._skipped

    def basis(self, chosen: Candidate) -> OfferBasis:
        """`chosen` is one of the result's candidates, which rank each lab once."""
        basis = self._bases.get(chosen.node_id)
        if basis is None:
            basis = self._bases[chosen.node_id] = OfferBasis(
                chosen.as_dict(), chosen.score.as_dict(), chosen.price.as_dict()
            )
        return basis


@dataclass(slots=True)
class RoutingMemo:
    """What routing the jobs of one placement shares: copies of one part are the same job spec
    against the same registry (`ctx.lock` is held), so each part is matched once per set of
    labs that declined it, and the design's lineage is read once."""

    matches: dict[tuple[int, tuple[str, ...]], PartMatch] = field(default_factory=dict)
    lineages: dict[str, Lineage] = field(default_factory=dict)

    def lineage(self, session: Session, design: Design) -> Lineage:
        lineage = self.lineages.get(design.id)
        if lineage is None:
            lineage = self.lineages[design.id] = Lineage(offer_attribution(session, design), authors_of(design))
        return lineage


def route_order(
    session: Session, ctx: DispatchContext, order: Order, design: Design, jobs: list[tuple[NewJob, DesignFile]]
) -> None:
    """Keep an order at one lab when one lab can make every part; split it only when none can."""
    parts = {f.id: f for _, f in jobs}
    if len(parts) > 1:
        results = {fid: PartMatch(match_job(ctx, job_spec(order, design, f), top=20)) for fid, f in parts.items()}
        shared = set.intersection(*({c.node_id for c in r.result.ranked} for r in results.values()))
        if shared:

            def order_score(node_id: str) -> float:
                return sum(
                    next(c for c in r.result.ranked if c.node_id == node_id).score.total for r in results.values()
                )

            lab = min(sorted(shared), key=order_score)
            memo = RoutingMemo()
            for job, design_file in jobs:
                part = results[design_file.id]
                chosen = next(c for c in part.result.ranked if c.node_id == lab)
                offer(session, ctx, job, order, design, design_file, chosen, part, memo)
            return
        history.record(session, order.id, "split", "no single lab can make every part: parts go to different labs")
    memo = RoutingMemo()
    for job, design_file in jobs:
        route(session, ctx, job, order, design, design_file, memo=memo)


def route(
    session: Session,
    ctx: DispatchContext,
    job: Job | NewJob,
    order: Order,
    design: Design,
    design_file: DesignFile,
    *,
    memo: RoutingMemo | None = None,
) -> None:
    """Offer the job to the best candidate not yet tried, or fail it with every lab's reason.

    `memo` shares matches and lineage among the jobs of one placement."""
    memo = RoutingMemo() if memo is None else memo
    assert design_file.id is not None  # a stored file: jobs are made for files in the database
    key = (design_file.id, tuple(sorted(job.declined_by)))
    part = memo.matches.get(key)
    if part is None:
        spec = job_spec(order, design, design_file)
        part = memo.matches[key] = PartMatch(match_job(ctx, spec, exclude=set(job.declined_by)))
    if not part.result.ranked:
        _park(session, ctx, job, part)
        return
    offer(session, ctx, job, order, design, design_file, part.result.ranked[0], part, memo)


def _park(session: Session, ctx: DispatchContext, job: Job | NewJob, part: PartMatch) -> None:
    """No lab can take the job: it waits when one could later (within the routing patience),
    otherwise it fails with every lab's reason."""
    t = now()
    why = part.result.explain() or "no labs registered"
    job.node_id = None
    job.updated_at = t
    if part.result.may_succeed_later() and t - job.created_at < ctx.routing_patience_s:
        if job.status != JobStatus.WAITING:
            message = f"no lab can take it right now, waiting: {why}"
            history.record_job(session, job, "waiting", message, {"rejections": part.skipped})
        job.status = JobStatus.WAITING
        job.reason = f"waiting for a lab: {why}"
        return
    job.status = JobStatus.FAILED
    job.reason = f"no lab can make this part: {why}"
    job.completed_at = t
    history.record_job(session, job, "unroutable", job.reason, {"rejections": part.skipped})


def offer(
    session: Session,
    ctx: DispatchContext,
    job: Job | NewJob,
    order: Order,
    design: Design,
    design_file: DesignFile,
    chosen: Candidate,
    part: PartMatch,
    memo: RoutingMemo,
) -> None:
    """Offer the job to `chosen`, one of `part`'s candidates: the job's new state, the offer in
    the outbox and a line of history naming the labs passed over."""
    basis = part.basis(chosen)
    t = now()
    job.status = JobStatus.OFFERED
    job.node_id, job.machine_id, job.distance_km = chosen.node_id, chosen.machine_id, round(chosen.distance_km, 3)
    job.last_seq = 0
    job.attempts += 1
    job.offered_at = job.updated_at = t
    job.offer_deadline = t + ctx.offer_timeout_s
    job.percent = None
    job.match = dict(basis.match)
    job.price_total = chosen.price.total
    message = _offer_message(ctx, job, order, design, design_file, memo.lineage(session, design))
    enqueue(session, ctx.topics.jobs(chosen.node_id), message, kind=OFFER, job_id=job.id, expires_at=job.offer_deadline)
    history.record_job(
        session,
        job,
        "offered",
        f"offered to {chosen.node_id} ({chosen.distance_km:.1f} km away), machine {chosen.machine_id}, "
        f"{chosen.price.total:.2f} {chosen.price.currency}",
        {
            "distance_km": job.distance_km,
            "score": basis.score,
            "price": basis.price,
            "skipped": part.skipped,
            "evaluated_labs": part.result.evaluated_labs,
        },
    )


def _offer_message(
    ctx: DispatchContext, job: Job | NewJob, order: Order, design: Design, design_file: DesignFile, lineage: Lineage
) -> bytes:
    """The `JobOffer` for a job just offered, with a download token valid from the offer on."""
    token, expires = sign_download(ctx.secret_key, design_file.sha256, ctx.token_ttl_s, at=job.offered_at)
    return JobOffer(
        job_id=job.id,
        order_id=order.id,
        design_id=design.id,
        design_title=design.title,
        licence=design.licence,
        authors=lineage.authors,
        file_name=design_file.filename,
        file_sha256=design_file.sha256,
        file_size=design_file.size_bytes,
        download_url=f"{ctx.public_url.rstrip('/')}/api/v1/files/{design_file.sha256}",
        download_token=token,
        token_expires_at=expires,
        material=order.material,
        colour=order.colour,
        process=design.process,
        bbox_mm=_size_mm(design_file),
        machine_id=job.machine_id,
        deadline=job.offer_deadline,
        attribution=lineage.attribution,
    ).to_bytes()


def reroute(session: Session, ctx: DispatchContext, job: Job) -> None:
    """Route a job again (declined, released, or waiting), reading what it is from the database."""
    order = session.get(Order, job.order_id)
    design_file = session.get(DesignFile, job.design_file_id)
    # foreign keys: a job's order and file, and the order's design, exist
    assert order is not None and design_file is not None
    design = session.get(Design, order.design_id)
    assert design is not None
    route(session, ctx, job, order, design, design_file)


def pass_on(session: Session, ctx: DispatchContext, job: Job, why: str) -> None:
    """The lab holding the offer declined it: never offer the job there again, offer it to the next."""
    node = job.node_id
    assert node is not None  # only an offered job is declined, and an offer names its node
    job.declined_by = [*job.declined_by, node]
    history.record_job(session, job, "declined", f"declined by {node}: {why}")
    reroute(session, ctx, job)


def _size_mm(design_file: DesignFile) -> tuple[float, float, float]:
    return (design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm)


def send_command(
    session: Session, ctx: DispatchContext, job: Job, command: CommandType, reason: str | None = None
) -> None:
    assert job.node_id is not None  # a command goes to the node holding the job; callers check it has one
    enqueue(
        session,
        ctx.topics.jobs(job.node_id),
        JobCommand(job_id=job.id, command=command, reason=reason).to_bytes(),
        kind=COMMAND,
        job_id=job.id,
    )
