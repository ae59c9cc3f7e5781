"""Shared fixtures: a hub app on a fresh SQLite or PostgreSQL database (API tests, no broker),
tokens of every role issued through the API itself, a real Mosquitto; and `require_component`.
The factories the fixtures use (people, labs, designs, orders) are in tests/factories.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from hub.app import create_app
from hub.broker import MosquittoSupervisor
from hub.config import Settings
from tests.factories import ADMIN, issue_tokens
from tests.mqtt_support import running_broker


def require_component(name: str, reason: str) -> NoReturn:
    """Stop a test that needs `name` (PostgreSQL, PrusaSlicer, Chromium, Mosquitto, OctoPrint),
    which is missing for `reason`.

    Under CI (`CI=true`) that fails the test: the set-up installs these or the machine provides
    them, so a missing one is a broken set-up that must not pass as a row of skips. Elsewhere
    (a laptop without Chromium) the test is skipped with the reason. The design corpus beside
    the checkout is not a component: tests skip without it everywhere (tests/corpus.py)."""
    message = f"{name} is needed: {reason}"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI=true: the set-up installs it or the machine provides it)", pytrace=False)
    pytest.skip(message)


POSTGRES_ADMIN_URL = os.environ.get("COFAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server for the scale path; each test gets its own fresh database on it."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        require_component(
            "PostgreSQL", f"none answers at {POSTGRES_ADMIN_URL} ({type(exc).__name__}); set COFAB_TEST_POSTGRES_URL"
        )
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    name = f"cofab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


postgres_only = pytest.mark.parametrize(
    "hub_settings", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
"""For a test of what only PostgreSQL does (row locks, several replicas on one database):
the `api` and `hub_settings` fixtures run it on PostgreSQL alone, instead of skipping an
SQLite variant that cannot show anything."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_settings(request, tmp_path: Path) -> Settings:
    """API tests run on SQLite (the default) and on PostgreSQL (the scale path)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Settings(
        data_dir=tmp_path / "hub",
        database_url=url,
        admin_token=ADMIN,
        mqtt_enabled=False,
        public_url="http://testserver",
    )


@pytest.fixture
def api(hub_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hub_settings)) as client:
        yield client


@pytest.fixture
def tokens(api: TestClient) -> dict[str, str]:
    """A token of every role, issued through the API (tests.factories.issue_tokens)."""
    return issue_tokens(api)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoSupervisor]:
    """A real Mosquitto with the hub's generated configuration (node and hub listeners)."""
    with running_broker(tmp_path / "broker") as supervisor:
        yield supervisor
