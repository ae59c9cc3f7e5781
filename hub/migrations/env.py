"""Alembic environment: the URL comes from the caller (hub.migrate), never from alembic.ini."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from hub.models import metadata

config = context.config

# The full-text index is dialect-specific (FTS5 on SQLite, tsvector on PostgreSQL) and kept
# out of the models; autogenerate must neither drop it nor diff its shadow tables.
_UNMODELLED_PREFIX = "design_search"


def _include_name(name, type_, parent_names) -> bool:
    return not (type_ == "table" and name and name.startswith(_UNMODELLED_PREFIX))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, include_name=_include_name)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
