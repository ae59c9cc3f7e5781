"""Schema migrations with Alembic, run from code at hub start-up and by `cofab hub migrate`.

Several replicas started at once on one PostgreSQL database would each run the upgrade: two
of them creating `alembic_version` or the same table at once makes one fail. On PostgreSQL
the upgrade therefore runs under a session advisory lock, held on a connection of its own:
the first replica migrates, the others wait and then find the schema at head (a no-op). SQLite
is one hub process by design and needs none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from hub.db import advisory_lock

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
# The advisory lock's key: any constant bigint, shared by every replica ("cofab" in ASCII).
MIGRATION_LOCK_KEY = 0x636F666162


def alembic_config(url: str) -> Config:
    config = Config(str(_MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`, one process at a time per database."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock `MIGRATION_LOCK_KEY` (waiting for it); nothing elsewhere.

    A session lock on a connection of its own, so Alembic's transactions are untouched; if the
    process dies, PostgreSQL drops the lock with the connection."""
    if make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            log.debug("waiting for the migration lock", extra={"key": MIGRATION_LOCK_KEY})
            advisory_lock(connection, MIGRATION_LOCK_KEY)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    finally:
        engine.dispose()
