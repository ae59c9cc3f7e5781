"""bench.search: full-text + filter search over 100,000 designs (10,000 with --quick).

Designs are bulk-inserted (Core executemany, then one statement that builds the search index)
into a fresh, migrated database: SQLite in a temporary folder by default, or the PostgreSQL
database named by --database-url. Each query of a fixed set runs through
`hub.catalog.search.search_designs` (a session, the ORM, the API's page model) and, side by
side, as the very same SQL (compiled with its values inlined) on the bare DB-API cursor. The
report gives p50/p95 of each and their ratio. Target (docs/benchmarks.md): p95 under 50 ms
and within 3x of the bare SQL.

    .venv/bin/python -m bench.search [--quick] [--database-url postgresql+psycopg://…]

Each run reports the database, the number of designs, the bulk load's time, the pooled
p50/p95 of both sides and each query's own figures (`notes.per_query`). On a machine shared with other work the figures move between runs: compare the
service with the bare SQL of the same run, not runs with each other.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from bench.common import parse_args, percentile, report
from hub import migrate
from hub.catalog.licences import LICENCES
from hub.catalog.models import Design, DesignMaterial, DesignTag, DesignVersion
from hub.catalog.search import COUNT_CAP, SearchQuery, build_statement, index_designs, search_designs
from hub.db import make_engine

WORDS = [
    "bracket",
    "shelf",
    "hook",
    "gear",
    "knob",
    "spacer",
    "clip",
    "holder",
    "mount",
    "stand",
    "case",
    "box",
    "lid",
    "hinge",
    "handle",
    "wheel",
    "pulley",
    "adapter",
    "cover",
    "plate",
    "panel",
    "frame",
    "rail",
    "clamp",
    "fan",
    "duct",
    "nozzle",
    "spool",
    "tray",
    "drawer",
    "organizer",
    "cable",
    "bin",
    "vase",
    "planter",
    "lamp",
    "shade",
    "button",
    "key",
    "ring",
    "badge",
    "coaster",
    "rack",
    "tool",
    "wrench",
    "tube",
    "pipe",
    "joint",
    "bearing",
]
TAGS = [
    "furniture",
    "kitchen",
    "garden",
    "workshop",
    "printer",
    "electronics",
    "toys",
    "office",
    "bathroom",
    "outdoor",
    "repair",
    "education",
    "music",
    "camera",
    "bike",
    "car",
    "medical",
    "lab",
    "storage",
    "decor",
]
MATERIALS = ["PLA", "PETG", "ABS", "TPU", "Nylon", "ASA", "resin", "plywood 3mm", "acrylic 3mm", "aluminium"]
PROCESSES = ["FDM", "FDM", "FDM", "SLA", "laser", "CNC"]
QUERIES = {
    "text": SearchQuery(q="bracket"),
    "two words + process": SearchQuery(q="shelf bracket", process="FDM"),
    "prefix + commercial": SearchQuery(q="gea", commercial_use=True),
    "material + fits": SearchQuery(material="petg", fits=(200, 200, 200)),
    "tag + licence": SearchQuery(tag="furniture", licence="CERN-OHL-S-2.0"),
    "text + tag + fits": SearchQuery(q="hook", tag="kitchen", fits=(150, 150, 150)),
    "rare word": SearchQuery(q="syllabub"),
    "very common word": SearchQuery(q=None),  # replaced by the most frequent synthetic word below
    "list, page 20": SearchQuery(offset=1000),
}


def _synthetic_words(rng: random.Random, n: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ten", "ra", "vu", "sel", "dor", "pin", "que", "zal", "bri", "ost", "ny"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def populate(engine: sa.Engine, count: int, seed: int = 7) -> float:
    """Insert `count` designs with tags, materials, one version each, and index them; returns seconds."""
    rng = random.Random(seed)
    synthetic = _synthetic_words(rng, 3000)
    # Zipf-like: a few very common words, many rare ones; the product words sit at ranks
    # 50-100, so "bracket" is in a few percent of designs, as in a real catalogue
    vocabulary = synthetic[:50] + WORDS + synthetic[50:]
    weights = [1.0 / (i + 1) for i in range(len(vocabulary))]
    licences = sorted(LICENCES)
    started = time.perf_counter()
    with engine.begin() as conn:
        owner = conn.execute(
            sa.text(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, revoked) "
                "VALUES ('bench', 'designer', :h, 0, false) RETURNING id"
            ),
            {"h": f"bench-{time.time()}"},
        ).scalar_one()
        batch = 5000
        for start in range(0, count, batch):
            designs, versions, tags, materials = [], [], [], []
            for i in range(start, min(start + batch, count)):
                design_id = f"d_{i:016x}"
                title = " ".join(rng.choices(vocabulary, weights, k=rng.randint(2, 5))).capitalize()
                description = " ".join(rng.choices(vocabulary, weights, k=rng.randint(15, 40)))
                chosen_tags = sorted(set(rng.sample(TAGS, rng.randint(1, 3))))
                chosen_materials = sorted(set(rng.sample(MATERIALS, rng.randint(1, 3))))
                fit = sorted(rng.uniform(2, 400) for _ in range(3))
                designs.append(
                    {
                        "id": design_id,
                        "title": title[:200],
                        "description": description,
                        "licence": rng.choice(licences),
                        "author": "bench",
                        "co_authors": [],
                        "process": rng.choice(PROCESSES),
                        "materials": chosen_materials,
                        "tags": chosen_tags,
                        "owner_token_id": owner,
                        "latest_version": 1,
                        "fit_small_mm": fit[0],
                        "fit_mid_mm": fit[1],
                        "fit_large_mm": fit[2],
                        "documentation_language": "en",
                        "created_at": 1.7e9 + i,
                    }
                )
                versions.append(
                    {
                        "design_id": design_id,
                        "number": 1,
                        "label": "1",
                        "note": "",
                        "published_by_token_id": owner,
                        "created_at": 1.7e9 + i,
                    }
                )
                tags += [{"design_id": design_id, "tag": t} for t in chosen_tags]
                materials += [{"design_id": design_id, "material": m.casefold()} for m in chosen_materials]
            conn.execute(sa.insert(Design.__table__), designs)
            conn.execute(sa.insert(DesignVersion.__table__), versions)
            conn.execute(sa.insert(DesignTag.__table__), tags)
            conn.execute(sa.insert(DesignMaterial.__table__), materials)
    with Session(engine) as session:
        index_designs(session)
        session.commit()
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm caches and statement compilation once
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        lambda p: p.add_argument(
            "--database-url", help="an empty PostgreSQL database to fill (default: SQLite in a temp folder)"
        ),
    )
    count = 10_000 if args.quick else 100_000
    repeats = 20 if args.quick else 60
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'hub.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        load_s = populate(engine, count)
        dialect = engine.dialect.name
        per_query, service_all, bare_all = {}, [], []
        queries = dict(QUERIES)
        queries["very common word"] = SearchQuery(q=_synthetic_words(random.Random(7), 1)[0])
        for name, query in queries.items():
            sql = str(
                build_statement(query, dialect).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            )

            def via_service(query=query):
                with Session(engine) as session:
                    return search_designs(session, query)

            raw = engine.raw_connection()
            try:

                def bare(sql=sql, raw=raw):
                    cursor = raw.cursor()
                    cursor.execute(sql)
                    rows = cursor.fetchall()
                    cursor.close()
                    return rows[0][0], [row[1] for row in rows if row[1] is not None]

                total, ids = bare()
                page = via_service()
                assert (page.total, page.total_exact) == (min(total, COUNT_CAP), total <= COUNT_CAP), name
                assert [i.id for i in page.items] == ids, name
                service_ms = _time(via_service, repeats)
                bare_ms = _time(bare, repeats)
            finally:
                raw.close()
            service_all += service_ms
            bare_all += bare_ms
            per_query[name] = {
                "matches": f"{COUNT_CAP:,}+" if total > COUNT_CAP else total,
                "service_p50_ms": round(percentile(service_ms, 50), 2),
                "service_p95_ms": round(percentile(service_ms, 95), 2),
                "bare_p50_ms": round(percentile(bare_ms, 50), 2),
                "bare_p95_ms": round(percentile(bare_ms, 95), 2),
            }
        engine.dispose()
    p50, p95 = percentile(service_all, 50), percentile(service_all, 95)
    b50, b95 = percentile(bare_all, 50), percentile(bare_all, 95)
    report(
        "search",
        values={
            "designs": count,
            "database": dialect,
            "service_p50_ms": round(p50, 2),
            "service_p95_ms": round(p95, 2),
            "queries": len(queries),
            "repeats": repeats,
            "bulk_load_s": round(load_s, 1),
        },
        baseline={"bare_sql_p50_ms": round(b50, 2), "bare_sql_p95_ms": round(b95, 2)},
        ratio={"p50": round(p50 / b50, 2), "p95": round(p95 / b95, 2)},
        notes={
            "per_query": per_query,
            "what": "service = search_designs in a new session (one statement: the capped count, the page "
            "and its designs' columns; then the page model); bare = the same compiled statement "
            "on the DB-API cursor",
        },
        target="p95 < 50 ms; within 3x of bare SQL",
    )


if __name__ == "__main__":
    main()
