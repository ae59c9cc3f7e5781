"""Catalogue search: full text over title, description and tags, with filters, paginated.

One function, `search_designs`, picks the database's own full-text engine, because a LIKE
scan over 100,000 descriptions is neither fast nor ranked:
- SQLite: the FTS5 table `design_search` (unicode61 tokenizer, diacritics folded), ranked by
  bm25 with the title weighted above tags above the description;
- PostgreSQL: `design_search.document`, a tsvector with a GIN index, the `simple`
  configuration (no stemming: designs are written in many languages), ranked by ts_rank with
  the same weights (A title, B tags, C description).
Both treat every word of the query as a prefix and require all of them, so "brack shel"
finds "Shelf bracket" on either database.

The index is not a model (see migration 0002); `index_designs` rebuilds the entries of the
given designs from their rows and tags in one SQL statement per dialect, so a single publish
and a bulk load take the same path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.catalog.licences import LICENCES, licence_terms
from hub.catalog.lineage import authors_of
from hub.catalog.models import Design, DesignMaterial, DesignTag
from hub.catalog.schemas import DesignPage, DesignSummary

__all__ = ["SearchQuery", "build_statements", "index_designs", "parse_fits", "search_designs", "summary"]

_WORD = re.compile(r"[^\W_]+")
_MAX_TERMS = 12
_FIT_TOLERANCE_MM = 1e-6
_SEARCH = sa.table("design_search", sa.column("design_id"), sa.column("document"))


@dataclass(frozen=True)
class SearchQuery:
    """What a client asks for; every filter is optional. fits: a box (any order of sides)."""

    q: str | None = None
    process: str | None = None
    licence: str | None = None
    commercial_use: bool | None = None
    material: str | None = None
    tag: str | None = None
    fits: tuple[float, float, float] | None = None
    limit: int = 50
    offset: int = 0


def parse_fits(text: str) -> tuple[float, float, float]:
    """"200x200x180" (also × or commas) -> three positive mm values. Raises ValueError."""
    parts = [p for p in re.split(r"[x×X,*]", text.strip()) if p.strip()]
    if len(parts) != 3:
        raise ValueError(f"fits must be three sizes in mm like 200x200x180, not {text!r}")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"fits must be three sizes in mm like 200x200x180, not {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"fits sizes must be positive numbers of mm, not {text!r}")
    return values  # type: ignore[return-value]


def _terms(q: str | None) -> list[str]:
    # lower(), not casefold(): casefold turns "ß" into "ss", which the index never does
    return [t[:64] for t in _WORD.findall((q or "").lower())][:_MAX_TERMS]


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _filters(query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    d = Design.__table__.c
    where: list[sa.ColumnElement[bool]] = []
    if query.process:
        where.append(d.process == query.process)
    if query.licence:
        where.append(d.licence == licence_terms(query.licence).id)
    if query.commercial_use is not None:
        ids = sorted(t.id for t in LICENCES.values() if t.commercial_use_allowed == query.commercial_use)
        where.append(d.licence.in_(ids))
    if query.material:
        m = DesignMaterial.__table__.c
        where.append(sa.exists().where(m.design_id == d.id, m.material == query.material.strip().casefold()))
    if query.tag:
        t = DesignTag.__table__.c
        where.append(sa.exists().where(t.design_id == d.id, t.tag == query.tag.strip().casefold()))
    if query.fits:
        small, mid, large = sorted(query.fits)
        where += [d.fit_small_mm <= small + _FIT_TOLERANCE_MM, d.fit_mid_mm <= mid + _FIT_TOLERANCE_MM,
                  d.fit_large_mm <= large + _FIT_TOLERANCE_MM]
    return where


def build_statements(query: SearchQuery, dialect: str) -> tuple[sa.Select, sa.Select]:
    """The two statements a search runs: (count of matches, one page of design ids in order).
    dialect: "sqlite" or "postgresql". Public so a benchmark can run the same SQL bare."""
    d = Design.__table__.c
    where = _filters(query)
    terms = _terms(query.q)
    base = sa.select(d.id).select_from(Design.__table__)
    order: list[sa.ColumnElement] = []
    if terms:
        base = base.join(_SEARCH, _SEARCH.c.design_id == d.id)
        if dialect == "postgresql":
            tsquery = sa.func.to_tsquery("simple", " & ".join(f"{t}:*" for t in terms))
            where.append(_SEARCH.c.document.op("@@")(tsquery))
            order.append(sa.func.ts_rank(_SEARCH.c.document, tsquery).desc())
        else:
            match = " ".join(f'"{t}"*' for t in terms)
            where.append(sa.literal_column("design_search").op("MATCH")(match))
            order.append(sa.func.bm25(sa.literal_column("design_search"), 0.0, 10.0, 1.0, 5.0))
    filtered = base.where(*where)
    count = sa.select(sa.func.count()).select_from(filtered.subquery())
    page = filtered.order_by(*order, d.created_at.desc(), d.id.desc()).limit(query.limit).offset(query.offset)
    return count, page


def search_designs(session: Session, query: SearchQuery) -> DesignPage:
    """A page of designs matching `query`, best match first (newest first without text),
    with the total number of matches. Without any filter it lists every design, newest first."""
    count, page = build_statements(query, session.get_bind().dialect.name)
    total = session.execute(count).scalar_one()
    page_ids = [row[0] for row in session.execute(page)]
    designs = {x.id: x for x in session.exec(select(Design).where(Design.id.in_(page_ids)))} if page_ids else {}
    return DesignPage(total=total, limit=query.limit, offset=query.offset,
                      items=[summary(designs[i]) for i in page_ids if i in designs])


def summary(design: Design) -> DesignSummary:
    fit = None
    if design.fit_small_mm is not None and design.fit_mid_mm is not None and design.fit_large_mm is not None:
        fit = (design.fit_small_mm, design.fit_mid_mm, design.fit_large_mm)
    return DesignSummary(
        id=design.id, title=design.title, description=design.description, licence=design.licence,
        commercial_use_allowed=licence_terms(design.licence).commercial_use_allowed, authors=authors_of(design),
        process=design.process, materials=design.materials, tags=design.tags,
        latest_version=design.latest_version, fit_mm=fit, created_at=design.created_at)


_SQLITE_REINDEX = (
    "INSERT INTO design_search (design_id, title, description, tags) "
    "SELECT d.id, d.title, d.description, "
    "coalesce((SELECT group_concat(t.tag, ' ') FROM design_tags t WHERE t.design_id = d.id), '') "
    "FROM designs d WHERE {where}"
)
_POSTGRES_REINDEX = (
    "INSERT INTO design_search (design_id, document) "
    "SELECT d.id, setweight(to_tsvector('simple', d.title), 'A') || "
    "setweight(to_tsvector('simple', coalesce((SELECT string_agg(t.tag, ' ') FROM design_tags t "
    "WHERE t.design_id = d.id), '')), 'B') || setweight(to_tsvector('simple', d.description), 'C') "
    "FROM designs d WHERE {where} "
    "ON CONFLICT (design_id) DO UPDATE SET document = EXCLUDED.document"
)


def index_designs(session: Session, design_ids: Sequence[str] | None = None) -> None:
    """(Re)build the search entries of `design_ids` (all designs if None) from their rows.
    Call after the design and its tags are flushed; part of the caller's transaction."""
    if design_ids is not None and not design_ids:
        return
    params: dict = {}
    where = "1 = 1"
    if design_ids is not None:
        where = "d.id IN :ids"
        params["ids"] = list(design_ids)
    session.flush()
    if _is_postgres(session):
        statement = sa.text(_POSTGRES_REINDEX.format(where=where))
    else:
        delete = "DELETE FROM design_search" + ("" if design_ids is None else " WHERE design_id IN :ids")
        session.execute(_expanding(sa.text(delete), params), params)
        statement = sa.text(_SQLITE_REINDEX.format(where=where))
    session.execute(_expanding(statement, params), params)


def _expanding(statement: sa.TextClause, params: dict) -> sa.TextClause:
    return statement.bindparams(sa.bindparam("ids", expanding=True)) if "ids" in params else statement
