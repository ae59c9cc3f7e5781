"""Fixtures for the dispatch tests: a hub app (no broker) with labs, a design and orders, on
SQLite and PostgreSQL (the `api` fixture's parameters), made with tests/factories.py. The real
Mosquitto (`broker`) is tests/conftest.py's; the MQTT probe is tests/mqtt_support.py's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.factories import design_id, place_order, register_lab

# Barcelona: labs a few km apart, makers near the first.
LABS = [("lab-a", 41.3969, 2.1945), ("lab-b", 41.3836, 2.1302), ("lab-c", 41.4100, 2.2200)]
NEAR_A = (41.4036, 2.1744)


@pytest.fixture
def hub(api, tokens):
    """The hub's services with three active, online labs."""
    for node_id, lat, lon in LABS:
        register_lab(api, node_id, lat, lon)
    return api.app.state.services


@pytest.fixture
def design(api, tokens) -> str:
    """The id of a published 20 mm cube."""
    return design_id(api, tokens["designer"])


@pytest.fixture
def place(api, tokens, hub, design) -> Callable[..., dict]:
    """place(quantity=1, where=NEAR_A) -> the order's full view (its POST answer's Location)."""

    def place(quantity: int = 1, where: tuple[float, float] = NEAR_A) -> dict:
        return place_order(api, tokens["maker"], design, where=where, quantity=quantity)

    return place
