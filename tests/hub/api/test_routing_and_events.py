"""Routing and event handling inside the hub, without a broker: offers land in the outbox,
node events move jobs along exactly once, declines and offline nodes reroute."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cofab_wire import EventType
from hub.dispatch.sweeps import release_unaccepted_offers
from hub.routing.geo import haversine_km
from tests.factories import bearer, design_id, outbox_messages, place_order, register_lab, report_status, send_event

# Barcelona: two labs, makers near each.
LAB_NEAR_SAGRADA = ("lab-east", 41.3969, 2.1945)
LAB_WEST = ("lab-west", 41.3836, 2.1302)
SAGRADA = (41.4036, 2.1744)


def test_haversine_matches_a_known_distance():
    # Paris (Notre-Dame) to London (Trafalgar Square): about 343.5 km along the great circle.
    assert haversine_km(48.8530, 2.3499, 51.5080, -0.1281) == pytest.approx(343.5, abs=1.5)
    assert haversine_km(41.4, 2.17, 41.4, 2.17) == 0


@pytest.fixture
def network(api, tokens):
    """Two active, online labs, registered through the API (pending until approved)."""
    for node_id, lat, lon in (LAB_NEAR_SAGRADA, LAB_WEST):
        registered = register_lab(api, node_id, lat, lon)
        assert registered["api_token"] and registered["node"]["membership"] == "pending"
    return api.app.state.services


def set_online(services, node_id: str, online: bool) -> None:
    """The node's status; going offline also releases its unaccepted offers, as the hub does."""
    report_status(services, node_id, online=online)
    if not online:
        with Session(services.engine) as session:
            release_unaccepted_offers(session, services.dispatch, node_id=node_id, why="node went offline")


def view(api, tokens, order_id) -> dict:
    return api.get(f"/api/v1/orders/{order_id}", headers=bearer(tokens["maker"])).json()


def test_an_order_is_offered_to_the_nearest_capable_node(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    job = placed["jobs"][0]
    assert job["status"] == "offered" and job["node_id"] == "lab-east"
    assert job["distance_km"] == pytest.approx(haversine_km(*SAGRADA, 41.3969, 2.1945), abs=0.01)
    [(topic, offer)] = outbox_messages(network)
    assert topic == "cofab/v1/nodes/lab-east/jobs"
    assert offer["job_id"] == job["id"] and offer["download_token"]
    assert offer["download_url"].endswith(offer["file_sha256"])


def test_placing_answers_with_the_order_and_where_its_view_is(api, tokens, network):
    response = api.post(
        "/api/v1/orders",
        headers=bearer(tokens["maker"]),
        json={
            "design_id": design_id(api, tokens["designer"]),
            "material": "PLA",
            "quantity": 3,
            "lat": SAGRADA[0],
            "lon": SAGRADA[1],
        },
    )
    assert response.status_code == 201, response.text
    placed = response.json()
    assert set(placed) == {"id", "status", "job_count", "job_ids", "price_total"}
    assert response.headers["Location"] == f"/api/v1/orders/{placed['id']}"
    full = api.get(response.headers["Location"], headers=bearer(tokens["maker"])).json()
    assert (placed["status"], placed["job_count"]) == (full["status"], 3) == ("placed", 3)
    assert sorted(placed["job_ids"]) == sorted(j["id"] for j in full["jobs"])
    assert placed["price_total"] == full["price_total"] > 0
    schema = api.get("/openapi.json").json()["paths"]["/api/v1/orders"]["post"]["responses"]["201"]
    assert schema["content"]["application/json"]["schema"]["$ref"].endswith("/OrderPlaced")


def test_events_move_the_job_to_completion_once(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    job_id = placed["jobs"][0]["id"]
    assert send_event(network, "lab-east", job_id, 1, EventType.PROGRESS, stage="fetching")
    assert send_event(network, "lab-east", job_id, 2, EventType.ACCEPTED, machine_id="p1")
    assert not send_event(network, "lab-east", job_id, 2, EventType.ACCEPTED)  # duplicate
    assert send_event(network, "lab-east", job_id, 4, EventType.PROGRESS, stage="running", percent=50)
    assert not send_event(network, "lab-east", job_id, 3, EventType.PROGRESS, stage="slicing")  # stale
    assert view(api, tokens, placed["id"])["jobs"][0]["status"] == "running"
    assert not send_event(network, "lab-west", job_id, 5, EventType.COMPLETED)  # not its job
    assert send_event(network, "lab-east", job_id, 5, EventType.COMPLETED)
    final = view(api, tokens, placed["id"])
    assert final["status"] == "completed" and final["completed_at"]
    assert [e["kind"] for e in final["events"]].count("completed") == 1
    assert not send_event(network, "lab-east", job_id, 6, EventType.FAILED, reason="late")
    assert view(api, tokens, placed["id"])["status"] == "completed"


def test_a_decline_goes_to_the_next_node_and_the_maker_sees_why(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    job_id = placed["jobs"][0]["id"]
    assert send_event(network, "lab-east", job_id, 1, EventType.DECLINED, reason="mesh is not watertight")
    current = view(api, tokens, placed["id"])
    assert current["jobs"][0]["node_id"] == "lab-west" and current["jobs"][0]["status"] == "offered"
    assert any("declined by lab-east: mesh is not watertight" in e["message"] for e in current["events"])
    assert send_event(network, "lab-west", job_id, 1, EventType.DECLINED, reason="mesh is not watertight")
    final = view(api, tokens, placed["id"])
    assert final["status"] == "failed"
    assert "already declined" in final["jobs"][0]["reason"]
    assert [t for t, _ in outbox_messages(network)] == ["cofab/v1/nodes/lab-east/jobs", "cofab/v1/nodes/lab-west/jobs"]


def test_a_part_larger_than_every_machine_fails_with_the_reason(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"], size=(300, 150, 50)))
    assert placed["status"] == "failed"
    reason = placed["jobs"][0]["reason"]
    assert "lab-east" in reason and "lab-west" in reason and "does not fit" in reason
    assert outbox_messages(network) == []


def test_a_part_that_fits_only_rotated_is_routed(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"], size=(20, 20, 190)))
    assert placed["jobs"][0]["status"] == "offered"


def test_a_material_nobody_has_fails_with_the_reason(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]), material="PEEK")
    assert placed["status"] == "failed" and "no PEEK" in placed["jobs"][0]["reason"]


def test_an_offline_node_gets_no_offer(api, tokens, network):
    set_online(network, "lab-east", False)
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    assert placed["jobs"][0]["node_id"] == "lab-west"


def test_an_unanswered_offer_moves_when_its_node_goes_offline(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    set_online(network, "lab-east", False)
    current = view(api, tokens, placed["id"])
    assert current["jobs"][0]["node_id"] == "lab-west"
    assert any("lab-east: node went offline" in e["message"] for e in current["events"])


def test_a_started_job_stays_with_its_node_when_it_goes_offline(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    job_id = placed["jobs"][0]["id"]
    assert send_event(network, "lab-east", job_id, 1, EventType.ACCEPTED, machine_id="p1")
    set_online(network, "lab-east", False)
    assert view(api, tokens, placed["id"])["jobs"][0]["node_id"] == "lab-east"


def test_an_expired_offer_goes_to_the_next_node(api, tokens, network):
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    with Session(network.engine, expire_on_commit=False) as session:
        released = release_unaccepted_offers(
            session,
            network.dispatch,
            expired_at=placed["created_at"] + 3600,
            why="offer not answered before its deadline",
        )
    assert released == 1
    current = view(api, tokens, placed["id"])
    assert current["jobs"][0]["node_id"] == "lab-west"
    assert current["jobs"][0]["declined_by"] == ["lab-east"]


def test_events_for_unknown_jobs_are_dropped(network):
    assert not send_event(network, "lab-east", "j_nope", 1, EventType.COMPLETED)
