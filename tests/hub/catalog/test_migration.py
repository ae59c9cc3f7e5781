"""Migrations on SQLite and PostgreSQL. 0002: the schema it builds matches the models, a
design from 0001 becomes version 1 of itself (findable by search), and it downgrades. 0005:
the search index's recency order and SQLite keys, built from 0002's entries."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import Session

from hub.catalog import search
from hub.catalog.search import SearchQuery, index_designs, search_designs
from hub.migrate import alembic_config
from hub.models import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'hub.db'}"


def _at_0001_with_a_token(database_url: str):
    """A database migrated to 0001 holding one designer token (id 1) for designs to name."""
    config = alembic_config(database_url)
    command.upgrade(config, "0001")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, revoked) "
                "VALUES ('old', 'designer', 'h', 0, false)"
            )
        )
    return config, engine


def test_0002_matches_the_models_backfills_and_downgrades(database_url):
    config, engine = _at_0001_with_a_token(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO designs (id, title, description, licence, author, process, materials, "
                "owner_token_id, created_at) VALUES ('d_old', 'Old shelf bracket', 'from 0001', "
                "'CERN-OHL-S-2.0', 'old', 'FDM', '[\"PLA\"]', 1, 1.0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO design_files (design_id, filename, sha256, size_bytes, format, faces, "
                "vertices, watertight, volume_mm3, size_x_mm, size_y_mm, size_z_mm, analysis, created_at) "
                f"VALUES ('d_old', 'a.stl', '{'0' * 64}', 84, 'stl_binary', 12, 8, true, 1.0, 30, 10, 20, "
                "'{}', 1.0)"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: not (kind == "table" and name.startswith("design_search"))},
        )
        assert compare_metadata(context, metadata) == []
        assert conn.execute(text("SELECT latest_version, fit_small_mm, fit_large_mm FROM designs")).one() == (
            1,
            10.0,
            30.0,
        )
        assert conn.execute(text("SELECT number FROM design_versions WHERE design_id = 'd_old'")).scalar() == 1
        assert conn.execute(text("SELECT material FROM design_materials")).scalar() == "pla"
    with Session(engine) as session:
        page = search_designs(session, SearchQuery(q="bracket", material="PLA", fits=(30, 30, 30)))
    assert [item.id for item in page.items] == ["d_old"]
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    engine.dispose()


def test_0005_orders_the_index_by_recency_and_downgrades(database_url, monkeypatch):
    """0005 keys the SQLite index (design_search_keys) and numbers PostgreSQL's (seq), both
    from the entries 0002 made; a search past the cap then ranks the last indexed first."""
    config, engine = _at_0001_with_a_token(database_url)
    with engine.begin() as conn:
        for n, design_id in enumerate(("d_a", "d_b")):
            conn.execute(
                text(
                    "INSERT INTO designs (id, title, description, licence, author, process, materials, "
                    "owner_token_id, created_at) VALUES (:id, 'Shelf bracket', '', 'MIT', 'old', "
                    "'FDM', '[]', 1, :t)"
                ),
                {"id": design_id, "t": float(n)},
            )
    command.upgrade(config, "0004")
    command.upgrade(config, "head")
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            keys = (
                conn.execute(
                    text(
                        "SELECT k.design_id FROM design_search_keys k "
                        "JOIN design_search s ON s.rowid = k.id ORDER BY k.id"
                    )
                )
                .scalars()
                .all()
            )
        else:
            keys = conn.execute(text("SELECT design_id FROM design_search ORDER BY seq")).scalars().all()
    assert sorted(keys) == ["d_a", "d_b"]
    with Session(engine) as session:
        index_designs(session, ["d_a"])  # edited: now the most recently indexed
        session.commit()
        for process in (None, "FDM"):  # the text-only path and the path that checks designs
            page = search_designs(session, SearchQuery(q="shelf", process=process))
            assert (page.total, page.total_exact, len(page.items)) == (2, True, 2)
        monkeypatch.setattr(search, "COUNT_CAP", 0)  # a window of one: the last indexed
        for process in (None, "FDM"):
            page = search_designs(session, SearchQuery(q="shelf", process=process))
            assert (page.total, page.total_exact, [i.id for i in page.items]) == (0, False, ["d_a"])
    command.downgrade(config, "0004")
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert (
                conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'design_search_keys'")).scalar() == 0
            )
        else:
            assert (
                conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.columns WHERE "
                        "table_name = 'design_search' AND column_name = 'seq'"
                    )
                ).scalar()
                == 0
            )
    command.upgrade(config, "head")
    engine.dispose()
