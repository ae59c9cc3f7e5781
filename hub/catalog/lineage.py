"""Remix lineage: who a design builds on, and whether its licence may do so.

Attribution is the commons' currency: every ancestor's title, authors and licence travel with
a design into each job offer and G-code header. Parents are only ever added (a design's
credits are never removed), and every addition is checked:
- a parent must exist and must not be the design itself or one of its descendants (no
  cycles, so the chain is finite and every walk ends);
- no ancestor may forbid derivatives;
- every share-alike ancestor must allow the remix's licence (`LicenceTerms.allows_remix_under`);
- a remix of a non-commercial design must itself be non-commercial, so routing can trust the
  design's own licence to refuse paid jobs (the ancestor's NC term binds the remix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, col, select

from hub.catalog.licences import LicenceTerms, licence_terms
from hub.catalog.models import Design, DesignRemix
from hub.errors import Rejected

__all__ = ["Attribution", "LineageRejected", "attribution_chain", "check_remix", "remixes_of"]

#: A chain longer than this is refused: attribution has to fit a G-code header.
MAX_ANCESTORS = 200


class LineageRejected(Rejected):
    """The declared lineage is impossible or the licences do not allow it; says why."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """One ancestor as people credit it. depth: 1 for a direct parent, 2 for a grandparent…"""

    design_id: str
    title: str
    authors: list[str]
    licence: str
    depth: int


def authors_of(design: Design | Row[Any]) -> list[str]:
    """First author, then co-authors, without repeats (of a design, or of a search's row of its columns)."""
    return list(dict.fromkeys([design.author, *design.co_authors]))


def _parents(session: Session, design_ids: Sequence[str]) -> dict[str, list[str]]:
    if not design_ids:
        return {}
    rows = session.exec(
        select(DesignRemix)
        .where(col(DesignRemix.design_id).in_(list(design_ids)))
        .order_by(DesignRemix.design_id, col(DesignRemix.position))
    ).all()
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.design_id, []).append(row.parent_id)
    return out


def _ancestor_ids(session: Session, start: Sequence[str]) -> list[tuple[str, int]]:
    """Breadth-first from `start` (depth 1): each ancestor once, at its nearest depth, in the
    order parents were declared. One query per generation."""
    seen: dict[str, int] = {}
    frontier = list(dict.fromkeys(start))
    depth = 1
    while frontier:
        next_frontier: list[str] = []
        for design_id in frontier:
            if design_id not in seen:
                seen[design_id] = depth
        if len(seen) > MAX_ANCESTORS:
            raise LineageRejected(f"the remix chain has more than {MAX_ANCESTORS} ancestors")
        parents = _parents(session, frontier)
        for design_id in frontier:
            for parent in parents.get(design_id, []):
                if parent not in seen and parent not in next_frontier:
                    next_frontier.append(parent)
        frontier = next_frontier
        depth += 1
    return list(seen.items())


def attribution_chain(session: Session, design_id: str, *, include_self: bool = False) -> list[Attribution]:
    """Every ancestor of a design, nearest first, each once: title, authors, licence.

    include_self: put the design itself first (depth 0), as a G-code header or receipt
    shows it. Returns [] for an unknown design or one that remixes nothing.
    """
    design = session.get(Design, design_id)
    if design is None:
        return []
    ordered = _ancestor_ids(session, list(_parents(session, [design_id]).get(design_id, [])))
    rows = (
        {d.id: d for d in session.exec(select(Design).where(col(Design.id).in_([i for i, _ in ordered])))}
        if ordered
        else {}
    )
    chain = [
        Attribution(design_id=d.id, title=d.title, authors=authors_of(d), licence=d.licence, depth=depth)
        for i, depth in ordered
        if (d := rows.get(i)) is not None
    ]
    if include_self:
        chain.insert(
            0,
            Attribution(
                design_id=design.id, title=design.title, authors=authors_of(design), licence=design.licence, depth=0
            ),
        )
    return chain


def check_remix(
    session: Session, *, licence: str, parent_ids: Sequence[str], design_id: str | None = None
) -> list[str]:
    """Validate declaring `parent_ids` as what a design (licensed `licence`) remixes.

    design_id: the design the parents are being added to, if it exists already (then a
    cycle is possible and is refused). Returns the parent ids deduplicated, in order.
    Raises LineageRejected with a reason a designer can act on.
    """
    parents = list(dict.fromkeys(parent_ids))
    if not parents:
        return []
    if design_id is not None and design_id in parents:
        raise LineageRejected("a design cannot be a remix of itself")
    found = {d.id for d in session.exec(select(Design).where(col(Design.id).in_(parents)))}
    missing = [p for p in parents if p not in found]
    if missing:
        raise LineageRejected(f"remix_of names designs that do not exist: {', '.join(missing)}")
    ancestry = _ancestor_ids(session, parents)
    if design_id is not None and any(a == design_id for a, _ in ancestry):
        raise LineageRejected(
            f"design {design_id} is already an ancestor of {', '.join(parents)}: "
            "declaring this remix would make a cycle"
        )
    child = licence_terms(licence)
    designs = {d.id: d for d in session.exec(select(Design).where(col(Design.id).in_([a for a, _ in ancestry])))}
    for ancestor_id, _depth in ancestry:
        ancestor = designs[ancestor_id]
        _check_licences(ancestor, licence_terms(ancestor.licence), child)
    return parents


def _check_licences(ancestor: Design, terms: LicenceTerms, child: LicenceTerms) -> None:
    what = f"{ancestor.title!r} ({ancestor.id}) is licensed {terms.id}"
    if terms.no_derivatives:
        raise LineageRejected(f"{what}, which allows no derivatives: it cannot be remixed")
    if terms.share_alike and not terms.allows_remix_under(child):
        allowed = ", ".join(sorted(terms.remix_licences))
        raise LineageRejected(f"{what}, which is share-alike: a remix must use one of {allowed}, not {child.id}")
    if not terms.commercial_use_allowed and child.commercial_use_allowed:
        raise LineageRejected(
            f"{what}, which forbids commercial use: a remix must keep a non-commercial licence, not {child.id}"
        )


def remixes_of(session: Session, design_id: str, *, limit: int = 100, offset: int = 0) -> list[Design]:
    """Designs that declare `design_id` as a direct parent, newest first."""
    query = (
        select(Design)
        .join(DesignRemix, col(DesignRemix.design_id) == Design.id)
        .where(DesignRemix.parent_id == design_id)
        .order_by(col(Design.created_at).desc(), Design.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query))
