"""Replicas starting at once on one fresh PostgreSQL database each run the Alembic upgrade:
the advisory lock in `hub.migrate` lets one migrate and the others find the schema at head."""

from __future__ import annotations

import multiprocessing

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from hub import migrate

pytestmark = pytest.mark.postgres

REPLICAS = 6


def _upgrade_when_released(url: str, start, failures) -> None:
    """One replica's start-up: wait until every replica is ready, then migrate."""
    start.wait(timeout=60)
    try:
        migrate.upgrade(url)
    except Exception as exc:  # reported to the test, which names it
        failures.put(f"{type(exc).__name__}: {exc}"[:500])


def test_replicas_upgrading_a_fresh_database_at_once_all_succeed(postgres_url):
    context = multiprocessing.get_context("spawn")
    start, failures = context.Barrier(REPLICAS), context.Queue()
    replicas = [
        context.Process(target=_upgrade_when_released, args=(postgres_url, start, failures)) for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=120)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert errors == []
    assert [replica.exitcode for replica in replicas] == [0] * REPLICAS
    head = ScriptDirectory.from_config(migrate.alembic_config(postgres_url)).get_current_head()
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
            assert "outbox" in inspect(connection).get_table_names()
    finally:
        engine.dispose()
