"""Shared fixtures: a hub app on a fresh SQLite database (API tests, no broker), and tokens
of every role issued through the API itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings

ADMIN = "test-admin-token"


@pytest.fixture
def hub_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "hub", admin_token=ADMIN, mqtt_enabled=False,
                    public_url="http://testserver")


@pytest.fixture
def api(hub_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hub_settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(api: TestClient) -> dict[str, str]:
    issued = {"admin": ADMIN}
    for role in ("designer", "lab", "maker", "city"):
        response = api.post("/api/v1/tokens", json={"role": role, "name": f"test {role}"}, headers=bearer(ADMIN))
        assert response.status_code == 201, response.text
        issued[role] = response.json()["token"]
    return issued
