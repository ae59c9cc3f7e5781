"""Catalog search: full text over title, description and tags, with filters, paginated.

One function, `search_designs`, picks the database's own full-text engine, because a LIKE
scan over 100,000 descriptions is neither fast nor ranked:
- SQLite: the FTS5 table `design_search` (unicode61 tokenizer, diacritics folded), ranked by
  bm25 with the title weighted above tags above the description;
- PostgreSQL: `design_search.document`, a tsvector with a GIN index, the `simple`
  configuration (no stemming: designs are written in many languages), ranked by ts_rank with
  the same weights (A title, B tags, C description).
Both treat every word of the query as a prefix and require all of them, so "brack shel"
finds "Shelf bracket" on either database.

A search keeps no more than COUNT_CAP + 1 matches (`build_statement` says why and how):
the total is exact up to COUNT_CAP and flagged as a lower bound past it, and with text the
best matches are ranked among the most recently indexed COUNT_CAP + 1. The index is read in
that recency order (the FTS5 rowid, PostgreSQL's `seq`; migration 0005) and the scan stops
there, so a very common word costs about what a word in COUNT_CAP designs costs. (A filter
that few of a common word's matches pass still makes it read on until it has enough.)

The index is not a model (see migrations 0002 and 0005); `index_designs` rebuilds the
entries of the given designs from their rows and tags in set-based SQL (one statement on
PostgreSQL, four on SQLite), so a single publish and a bulk load take the same path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from hub.catalog.licences import LICENCES, licence_terms
from hub.catalog.lineage import authors_of
from hub.catalog.models import Design, DesignMaterial, DesignTag
from hub.catalog.schemas import DesignPage, DesignSummary
from hub.db import table_of
from hub.errors import Rejected

__all__ = ["COUNT_CAP", "SearchQuery", "build_statement", "index_designs", "parse_fits", "search_designs", "summary"]

_WORD = re.compile(r"[^\W_]+")
_MAX_TERMS = 12
_FIT_TOLERANCE_MM = 1e-6
_SEARCH = sa.table("design_search", sa.column("rowid"), sa.column("design_id"), sa.column("document"), sa.column("seq"))
# SQLite only (migration 0005): the FTS rowid of each design. Reading design_id out of the FTS
# table costs a content lookup through FTS5 per row; this narrow table joins for a fraction
_KEYS = sa.table("design_search_keys", sa.column("id"), sa.column("design_id"))


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
    """ "200x200x180" (also × or commas) -> three positive mm values. Raises Rejected."""
    parts = [p for p in re.split(r"[x×X,*]", text.strip()) if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise Rejected(f"fits must be three sizes in mm like 200x200x180, not {text!r}")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise Rejected(f"fits sizes must be positive numbers of mm, not {text!r}")
    return values


def _terms(q: str | None) -> list[str]:
    # lower(), not casefold(): casefold turns "ß" into "ss", which the index never does
    return [t[:64] for t in _WORD.findall((q or "").lower())][:_MAX_TERMS]


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _filters(query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    d = table_of(Design).c
    where: list[sa.ColumnElement[bool]] = []
    if query.process:
        where.append(d.process == query.process)
    if query.licence:
        where.append(d.licence == licence_terms(query.licence).id)
    if query.commercial_use is not None:
        ids = sorted(t.id for t in LICENCES.values() if t.commercial_use_allowed == query.commercial_use)
        where.append(d.licence.in_(ids))
    if query.material:
        m = table_of(DesignMaterial).c
        where.append(sa.exists().where(m.design_id == d.id, m.material == query.material.strip().casefold()))
    if query.tag:
        t = table_of(DesignTag).c
        where.append(sa.exists().where(t.design_id == d.id, t.tag == query.tag.strip().casefold()))
    if query.fits:
        small, mid, large = sorted(query.fits)
        where += [
            d.fit_small_mm <= small + _FIT_TOLERANCE_MM,
            d.fit_mid_mm <= mid + _FIT_TOLERANCE_MM,
            d.fit_large_mm <= large + _FIT_TOLERANCE_MM,
        ]
    return where


COUNT_CAP = 10_000
"""Matches counted, and for a text query ranked, at most; see `build_statement`."""

_Parts = tuple[sa.Subquery, sa.Subquery, list[sa.ColumnElement]]
"""(total: one row, one column `total`; page: `design_id` and its sort keys; the page's order)"""


def build_statement(query: SearchQuery, dialect: str) -> sa.Select:
    """The one statement a search runs. Each row is (total, design_id, the design's columns
    that `summary` reads) and the rows are the page in order; a page past the end is one row
    with design_id NULL, so the total always comes back. dialect: "sqlite" or "postgresql".
    Public so a benchmark runs the same SQL bare.

    Why the bounds: an exact count and a full ranking cost time in proportion to the matches,
    and a very common word matches most of the catalog (bm25 or ts_rank of 100,000 rows and
    a count of them took 0.3 s per search on SQLite). So at most COUNT_CAP + 1 matches are kept:
    - total is exact up to COUNT_CAP; COUNT_CAP + 1 means "more than COUNT_CAP" (the page
      model reports COUNT_CAP with total_exact false);
    - with text, the best matches are ranked among the COUNT_CAP + 1 most recently indexed
      matches (published or edited last), which is every match unless the total is inexact;
      pages past that window come back empty, as in Elasticsearch's max_result_window.
      Ties in rank go to the most recently indexed design.
    Without text the order is newest first. With filters the COUNT_CAP + 1 newest matches can
    be paged to, as with text; with no filter at all every design can (the created_at index
    serves any offset), and only the count is capped.
    One statement rather than a count and a page: with text both read the same candidate
    rows, which the CTE reads once (it is referenced twice, so both databases materialise it).
    A text query without filters never touches `designs`: FTS5 gives rowid and bm25 alone, and
    only the page's rowids are mapped to design ids (`design_search_keys`).
    """
    where = _filters(query)
    terms = _terms(query.q)
    if not terms:
        total, page, order = _listing(query, where, dialect)
    elif dialect == "postgresql":
        total, page, order = _ranked_postgres(query, where, terms)
    else:
        total, page, order = _ranked_sqlite(query, where, terms)
    d = table_of(Design)
    # the page's designs in the same statement: a second query for them was a round trip and
    # an ORM load per search; summary() reads these columns straight off the row
    return (
        sa.select(total.c.total, page.c.design_id, *(d.c[name] for name in _SUMMARY_COLUMNS))
        .select_from(total.outerjoin(page, sa.true()).outerjoin(d, d.c.id == page.c.design_id))
        .order_by(*order)
    )


def _page(select: sa.Select, query: SearchQuery) -> sa.Select:
    return select.limit(query.limit).offset(query.offset)


def _capped_count(matches: sa.Select | sa.CTE) -> sa.Subquery:
    """count(*) of at most COUNT_CAP + 1 rows: the candidates (already capped) or a listing."""
    rows = matches if isinstance(matches, sa.CTE) else matches.limit(COUNT_CAP + 1).subquery()
    return sa.select(sa.func.count().label("total")).select_from(rows).subquery("total")


def _listing(query: SearchQuery, where: list[sa.ColumnElement[bool]], dialect: str) -> _Parts:
    d = table_of(Design).c
    newest = (d.created_at.desc(), d.id.desc())
    if not where:  # every design: the created_at index pages at any offset
        total = _capped_count(sa.select(d.id))
        page = _page(sa.select(d.id.label("design_id"), d.created_at).order_by(*newest), query).subquery("page")
    elif dialect == "postgresql":
        # the newest COUNT_CAP + 1 matches once, counted and paged from: paging along the
        # created_at index instead is what PostgreSQL picks, and with few matches it reads far
        # past the page (60 ms for 372 matches of 100,000)
        matches = sa.select(d.id, d.created_at).where(*where).order_by(*newest).limit(COUNT_CAP + 1).cte("candidates")
        total = _capped_count(matches)
        page = _page(
            sa.select(matches.c.id.label("design_id"), matches.c.created_at).order_by(
                matches.c.created_at.desc(), matches.c.id.desc()
            ),
            query,
        ).subquery("page")
    else:
        # SQLite: a count, then the page along the created_at index. In one pass (as above) it
        # walks that index for the count too, a row lookup per design (twice the time of a scan
        # when no index narrows the filter, as with fits); the same window of matches is paged
        total = _capped_count(sa.select(d.id).where(*where))
        window = max(0, COUNT_CAP + 1 - query.offset)
        page = (
            sa.select(d.id.label("design_id"), d.created_at)
            .where(*where)
            .order_by(*newest)
            .limit(min(query.limit, window))
            .offset(query.offset)
            .subquery("page")
        )
    return total, page, [page.c.created_at.desc(), page.c.design_id.desc()]


def _ranked_sqlite(query: SearchQuery, where: list[sa.ColumnElement[bool]], terms: list[str]) -> _Parts:
    fts: sa.ColumnClause[Any] = sa.literal_column("design_search")
    matches = sa.select(
        _SEARCH.c.rowid.label("seq"), sa.func.bm25(fts, 0.0, 10.0, 1.0, 5.0).label("score")
    ).select_from(_SEARCH)
    if where:  # only filters need the designs row: without them the FTS table alone answers
        matches = matches.join(_KEYS, _KEYS.c.id == _SEARCH.c.rowid).join(
            table_of(Design), table_of(Design).c.id == _KEYS.c.design_id
        )
    match = " ".join(f'"{t}"*' for t in terms)
    candidates = (
        matches.where(fts.op("MATCH")(match), *where)
        .order_by(_SEARCH.c.rowid.desc())
        .limit(COUNT_CAP + 1)
        .cte("candidates")
    )
    best = _page(
        sa.select(candidates.c.seq, candidates.c.score).order_by(candidates.c.score, candidates.c.seq.desc()), query
    ).subquery("best")
    page = (
        sa.select(_KEYS.c.design_id, best.c.score, best.c.seq).select_from(best.join(_KEYS, _KEYS.c.id == best.c.seq))
    ).subquery("page")
    return _capped_count(candidates), page, [page.c.score, page.c.seq.desc()]


def _ranked_postgres(query: SearchQuery, where: list[sa.ColumnElement[bool]], terms: list[str]) -> _Parts:
    # the configuration as SQL text, not a bind: the statement must also compile with its
    # values inlined (bench.search runs it bare)
    tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), " & ".join(f"{t}:*" for t in terms))
    matches = sa.select(
        _SEARCH.c.design_id, _SEARCH.c.seq, sa.func.ts_rank(_SEARCH.c.document, tsquery).label("score")
    ).select_from(_SEARCH)
    if where:
        # checked per match through the designs primary key: as a join the planner hashes the whole
        # designs table for a few thousand matches (60 ms at 100,000 designs). OFFSET 0 keeps the
        # EXISTS a per-row subplan (PostgreSQL does not turn a subquery with an OFFSET into a join)
        where = [
            sa.select(sa.literal(1))
            .select_from(table_of(Design))
            .where(table_of(Design).c.id == _SEARCH.c.design_id, *where)
            .offset(0)
            .exists()
        ]
    candidates = (
        matches.where(_SEARCH.c.document.op("@@")(tsquery), *where)
        .order_by(_SEARCH.c.seq.desc())
        .limit(COUNT_CAP + 1)
        .cte("candidates")
    )
    page = _page(
        sa.select(candidates.c.design_id, candidates.c.score, candidates.c.seq).order_by(
            candidates.c.score.desc(), candidates.c.seq.desc()
        ),
        query,
    ).subquery("page")
    return _capped_count(candidates), page, [page.c.score.desc(), page.c.seq.desc()]


def search_designs(session: Session, query: SearchQuery) -> DesignPage:
    """A page of designs matching `query`, best match first (newest first without text),
    with the total number of matches (exact up to COUNT_CAP; see `build_statement`)."""
    rows = session.execute(build_statement(query, session.get_bind().dialect.name)).all()
    matched = rows[0].total if rows else 0
    return DesignPage(
        total=min(matched, COUNT_CAP),
        total_exact=matched <= COUNT_CAP,
        limit=query.limit,
        offset=query.offset,
        items=[summary(row) for row in rows if row.design_id is not None],
    )


_SUMMARY_COLUMNS = (
    "id",
    "title",
    "description",
    "licence",
    "author",
    "co_authors",
    "process",
    "materials",
    "tags",
    "latest_version",
    "fit_small_mm",
    "fit_mid_mm",
    "fit_large_mm",
    "created_at",
)


def summary(design: Design | sa.Row) -> DesignSummary:
    """A search hit from a design, or from a row with its `_SUMMARY_COLUMNS` (as searches have)."""
    fit = None
    if design.fit_small_mm is not None and design.fit_mid_mm is not None and design.fit_large_mm is not None:
        fit = (design.fit_small_mm, design.fit_mid_mm, design.fit_large_mm)
    return DesignSummary(
        id=design.id,
        title=design.title,
        description=design.description,
        licence=design.licence,
        commercial_use_allowed=licence_terms(design.licence).commercial_use_allowed,
        authors=authors_of(design),
        process=design.process,
        materials=design.materials,
        tags=design.tags,
        latest_version=design.latest_version,
        fit_mm=fit,
        created_at=design.created_at,
    )


# SQLite: a design's old entry is deleted and a new one added under a new key (the largest
# yet), so the FTS rowid order is the order designs were last indexed; a full rebuild numbers
# them oldest first. Deleting by key, not by the UNINDEXED design_id, spares a scan of the index.
_SQLITE_UNINDEX = (
    "DELETE FROM design_search WHERE rowid IN (SELECT id FROM design_search_keys WHERE design_id IN :ids)",
    "DELETE FROM design_search_keys WHERE design_id IN :ids",
)
_SQLITE_UNINDEX_ALL = ("DELETE FROM design_search", "DELETE FROM design_search_keys")
_SQLITE_REINDEX = (
    "INSERT INTO design_search_keys (design_id) SELECT d.id FROM designs d WHERE {where} ORDER BY d.created_at, d.id",
    "INSERT INTO design_search (rowid, design_id, title, description, tags) "
    "SELECT k.id, d.id, d.title, d.description, "
    "coalesce((SELECT group_concat(t.tag, ' ') FROM design_tags t WHERE t.design_id = d.id), '') "
    "FROM designs d JOIN design_search_keys k ON k.design_id = d.id WHERE {where}",
)
_POSTGRES_REINDEX = (
    "INSERT INTO design_search (design_id, document) "
    "SELECT d.id, setweight(to_tsvector('simple', d.title), 'A') || "
    "setweight(to_tsvector('simple', coalesce((SELECT string_agg(t.tag, ' ') FROM design_tags t "
    "WHERE t.design_id = d.id), '')), 'B') || setweight(to_tsvector('simple', d.description), 'C') "
    "FROM designs d WHERE {where} "
    "ON CONFLICT (design_id) DO UPDATE SET document = EXCLUDED.document, seq = DEFAULT"
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
        statements = [_POSTGRES_REINDEX.format(where=where)]
    else:
        unindex = _SQLITE_UNINDEX_ALL if design_ids is None else _SQLITE_UNINDEX
        statements = [*unindex, *(s.format(where=where) for s in _SQLITE_REINDEX)]
    for statement in statements:
        session.execute(_expanding(sa.text(statement), params), params)


def _expanding(statement: sa.TextClause, params: dict) -> sa.TextClause:
    return statement.bindparams(sa.bindparam("ids", expanding=True)) if "ids" in params else statement
