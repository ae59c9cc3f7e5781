"""Deactivating a lab through the API of a hub that runs its own Mosquitto shuts the lab out
at once: its live MQTT connection drops, it cannot log in again, and its API token is refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from tests.factories import ADMIN, bearer, register_lab

pytestmark = pytest.mark.integration


def test_a_deactivated_lab_loses_its_broker_login_connection_and_token(tmp_path, free_port, mqtt_client) -> None:
    settings = Settings(
        data_dir=tmp_path / "hub",
        admin_token=ADMIN,
        public_url="http://testserver",
        mqtt_port=free_port(),
        broker_hub_port=free_port(),
        replica_id="test",
    )
    with TestClient(create_app(settings)) as api:
        broker = api.app.state.services.broker_accounts
        lab = register_lab(api, "lab-x", 41.39, 2.15, online=False)
        login = ("lab-x", lab["mqtt"]["password"])
        node = mqtt_client(broker.settings.node_endpoint, *login, client_id="lab-x")
        assert not node.connect().is_failure
        assert api.get("/api/v1/nodes/lab-x", headers=bearer(lab["api_token"])).status_code == 200

        deactivated = api.post("/api/v1/nodes/lab-x/deactivate", headers=bearer(ADMIN))
        assert deactivated.status_code == 200 and deactivated.json()["membership"] == "inactive"
        node.wait_disconnected()
        assert mqtt_client(broker.settings.node_endpoint, *login, client_id="lab-x").connect().is_failure
        assert not broker.credentials.has_user("lab-x")
        refused = api.get("/api/v1/nodes/lab-x", headers=bearer(lab["api_token"]))
        assert refused.status_code == 401
