"""Fixtures for the dispatch tests: a hub app (no broker) with labs, a design and orders, on
SQLite and PostgreSQL (the `api` fixture's parameters); a real Mosquitto; an MQTT probe."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from cofab.devstack.samples import box, stl_bytes
from cofab_wire import MachineStatus, NodeStatus
from hub.nodes.service import apply_status
from tests.factories import bearer

# Barcelona: labs a few km apart, makers near the first.
LABS = [("lab-a", 41.3969, 2.1945), ("lab-b", 41.3836, 2.1302), ("lab-c", 41.4100, 2.2200)]
NEAR_A = (41.4036, 2.1744)


def set_online(services, node_id: str, online: bool = True) -> None:
    with Session(services.engine) as session:
        apply_status(
            session,
            node_id,
            NodeStatus(
                node_id=node_id,
                online=online,
                machines=[
                    MachineStatus(
                        machine_id="p1", process="FDM", build_volume_mm=(200, 200, 200), materials=["PLA"], state="idle"
                    )
                ],
            ),
            services.registry,
        )


@pytest.fixture
def hub(api, tokens):
    """The hub's services with three active, online labs."""
    services = api.app.state.services
    for node_id, lat, lon in LABS:
        response = api.post(
            "/api/v1/nodes",
            headers=bearer(tokens["admin"]),
            json={
                "id": node_id,
                "name": node_id,
                "lat": lat,
                "lon": lon,
                "machines": [{"machine_id": "p1", "build_volume_mm": [200, 200, 200], "materials": ["PLA"]}],
            },
        )
        assert response.status_code == 201, response.text
        assert api.post(f"/api/v1/nodes/{node_id}/approvals", headers=bearer(tokens["admin"])).status_code == 200
        set_online(services, node_id)
    return services


@pytest.fixture
def design_id(api, tokens) -> str:
    response = api.post(
        "/api/v1/designs",
        content=stl_bytes(box((20, 20, 20))),
        headers=bearer(tokens["designer"]),
        params={"filename": "p.stl", "title": "part"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def place(api, tokens, hub, design_id) -> Callable[..., dict]:
    """place(quantity=1, where=NEAR_A) -> the order's full view (its POST answer's Location)."""

    def place(quantity: int = 1, where: tuple[float, float] = NEAR_A) -> dict:
        response = api.post(
            "/api/v1/orders",
            headers=bearer(tokens["maker"]),
            json={"design_id": design_id, "material": "PLA", "quantity": quantity, "lat": where[0], "lon": where[1]},
        )
        assert response.status_code == 201, response.text
        return api.get(response.headers["Location"], headers=bearer(tokens["maker"])).json()

    return place
