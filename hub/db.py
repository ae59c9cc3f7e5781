"""Engine and sessions. SQLite by default (WAL, foreign keys, a busy timeout so the MQTT
thread and request threads can share it); any SQLAlchemy URL for PostgreSQL.

JSON columns are written with orjson: every job carries its match (~1 KB) and
every offer's history line its score and price, and the standard library's encoder took
~40 us of the ~0.5 ms of CPU the hub spends per job (bench.dispatch); orjson takes a few."""

from __future__ import annotations

from typing import TypeVar

import orjson
from sqlalchemy import Connection, Table, event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

_T = TypeVar("_T")
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _json_default(value: object) -> object:
    # What the standard library takes and orjson does not by itself: float subclasses.
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def json_dumps(value: object) -> str:
    """JSON for a JSON column, for whatever the standard library's `json.dumps` took (non-string
    keys, numpy scalars and float subclasses included); compact, UTF-8 rather than \\u escapes.
    One difference: NaN and infinities become null (orjson writes only standard JSON, which
    PostgreSQL's json type also insists on), where the standard library wrote `NaN`."""
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()


def table_of(model: type[SQLModel]) -> Table:
    """The Core table a table model is mapped to, for statements written against its columns
    (bulk inserts, aliases, `FOR UPDATE OF`). SQLModel's class does not declare `__table__`,
    so the type checker learns it here, once, rather than at each use."""
    table = inspect(model).local_table
    assert isinstance(table, Table)  # a table=True model maps exactly one Table
    return table


def present(value: _T | None) -> _T:
    """`value` read back where the caller knows it exists (a row the request has just written,
    or found a moment ago in the same transaction): a lookup's `| None` removed for the type
    checker. None here is a bug in the caller, not a missing resource (no 404)."""
    assert value is not None
    return value


def make_engine(url: str) -> Engine:
    # Read back with the standard library: rows written before may hold its NaN, which orjson rejects.
    json_options = {"json_serializer": json_dumps}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **json_options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # reads through a shared mapping rather than a 2 MB page cache per connection: a search
            # that checks designs row by row spent a quarter of its CPU time copying pages in
            cursor.execute("PRAGMA mmap_size=268435456")
            cursor.close()

        return engine
    # jit off: the hub's statements are short, yet PostgreSQL's cost-based JIT fires on some of
    # them (a search with filters spent 9-17 ms compiling to run in about 40)
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args={"options": "-c jit=off"}, **json_options
    )


def advisory_lock(
    connection: Connection, key: int, *, shared: bool = False, transaction: bool = False, wait: bool = True
) -> bool:
    """Take PostgreSQL's advisory lock `key` on `connection`; True once held.

    transaction: held until the connection's transaction ends (committed or rolled back)
    rather than until unlocked, so it cannot outlive the work it guards. shared: excludes only
    exclusive holders. Without `wait`, returns False at once if it is not free.
    Users: `hub.migrate` (one migration at a time) and `hub.files.holds` (per stored object,
    across replicas)."""
    function = f"pg_{'' if wait else 'try_'}advisory_{'xact_' if transaction else ''}lock{'_shared' if shared else ''}"
    granted = connection.execute(text(f"SELECT {function}(:key)"), {"key": key}).scalar()
    return True if wait else bool(granted)
