"""Labs over the API: membership approval, OKW in and out, quotes with price breakdowns,
lab decisions on offers, makers cancelling, and orders split across labs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from cofab.devstack.samples import box, stl_bytes
from cofab_wire import EventType, NodeStatus
from hub.nodes.service import apply_status
from tests.factories import (
    MAKER_AT,
    bearer,
    design_id,
    outbox_messages,
    place_order,
    publish_parts,
    register_lab,
    report_status,
    send_event,
    stage_upload,
)


def lab_token(registered) -> dict:
    return bearer(registered["api_token"])


# membership -----------------------------------------------------------------------------------


def test_a_pending_lab_gets_no_jobs_until_members_approve_it(api, tokens):
    first = register_lab(api, "lab-one", 41.38, 2.13)
    second = register_lab(api, "lab-two", 41.39, 2.15)
    newcomer = register_lab(api, "lab-new", 41.4036, 2.1744, approve=False)
    assert newcomer["node"]["membership"] == "pending"
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    assert placed["jobs"][0]["node_id"] != "lab-new"
    assert "pending" in placed["events"][1]["data"]["skipped"]["lab-new"]

    one = api.post("/api/v1/nodes/lab-new/approvals", headers=lab_token(first))
    assert one.status_code == 200 and one.json()["membership"] == "pending"
    assert one.json()["approvals"] == ["node:lab-one"]
    again = api.post("/api/v1/nodes/lab-new/approvals", headers=lab_token(first))
    assert again.json()["membership"] == "pending"  # one lab, one vote
    two = api.post("/api/v1/nodes/lab-new/approvals", headers=lab_token(second))
    assert two.json()["membership"] == "active"
    assert place_order(api, tokens["maker"], design_id(api, tokens["designer"]))["jobs"][0]["node_id"] == "lab-new"


def test_pending_labs_cannot_approve_and_nobody_approves_themselves(api, tokens):
    register_lab(api, "lab-one", 41.38, 2.13)
    pending = register_lab(api, "lab-p", 41.39, 2.15, approve=False)
    other = register_lab(api, "lab-q", 41.39, 2.16, approve=False)
    refused = api.post("/api/v1/nodes/lab-q/approvals", headers=lab_token(pending))
    assert refused.status_code == 403 and "active member" in refused.json()["detail"]
    assert api.post("/api/v1/nodes/lab-p/approvals", headers=lab_token(pending)).status_code == 403
    assert api.post("/api/v1/nodes/lab-q/approvals", headers=bearer(tokens["maker"])).status_code == 403
    assert other["node"]["membership"] == "pending"


def test_an_inactive_lab_gets_no_jobs(api, tokens):
    register_lab(api, "lab-one", 41.4036, 2.1744)
    register_lab(api, "lab-two", 41.38, 2.13)
    assert (
        api.post("/api/v1/nodes/lab-one/deactivate", headers=bearer(tokens["admin"])).json()["membership"] == "inactive"
    )
    assert place_order(api, tokens["maker"], design_id(api, tokens["designer"]))["jobs"][0]["node_id"] == "lab-two"


def test_a_member_lab_cannot_undo_an_admins_deactivation(api, tokens):
    first = register_lab(api, "lab-one", 41.38, 2.13)
    register_lab(api, "lab-two", 41.39, 2.15)
    register_lab(api, "lab-bad", 41.40, 2.17, approve=False)
    assert api.post("/api/v1/nodes/lab-bad/approvals", headers=lab_token(first)).json()["approvals"] == ["node:lab-one"]
    assert api.post("/api/v1/nodes/lab-bad/approvals", headers=bearer(tokens["admin"])).json()["membership"] == "active"
    active = api.post("/api/v1/nodes/lab-bad/approvals", headers=lab_token(first))
    assert active.status_code == 409 and "already active" in active.json()["detail"]

    deactivated = api.post("/api/v1/nodes/lab-bad/deactivate", headers=bearer(tokens["admin"])).json()
    assert deactivated["membership"] == "inactive" and deactivated["approvals"] == []  # old votes gone
    refused = api.post("/api/v1/nodes/lab-bad/approvals", headers=lab_token(first))
    assert refused.status_code == 409 and "only an admin" in refused.json()["detail"]
    assert api.get("/api/v1/nodes/lab-bad", headers=bearer(tokens["admin"])).json()["membership"] != "active"
    again = api.post("/api/v1/nodes/lab-bad/approvals", headers=bearer(tokens["admin"]))
    assert again.status_code == 200 and again.json()["membership"] == "active"


# OKW ------------------------------------------------------------------------------------------


def test_okw_export_and_import_round_trip(api, tokens):
    register_lab(
        api,
        "lab-okw",
        41.3969,
        2.1945,
        build=(250, 210, 210),
        materials=("PLA", "PETG"),
        address="Pujades 102",
        city="Barcelona",
        country="ES",
        opening_hours="Mo-Fr 10:00-19:00",
    )
    record = api.get("/api/v1/nodes/lab-okw/okw", headers=bearer(tokens["maker"])).json()
    assert record["location"]["gps-coordinates"] == "41.3969,2.1945"
    assert record["openingHours"] == "Mo-Fr 10:00-19:00"
    assert record["manufacturingProcesses"] == ["https://en.wikipedia.org/wiki/Fused_filament_fabrication"]
    assert "https://en.wikipedia.org/wiki/Polylactic_acid" in record["equipment"][0]["materialsWorked"]
    record["id"] = "lab-okw-copy"
    imported = api.post("/api/v1/nodes/import/okw", json=record, headers=bearer(tokens["admin"]))
    assert imported.status_code == 201, imported.text
    node = imported.json()["node"]
    assert node["membership"] == "pending"
    assert node["machines"][0]["build_volume_mm"] == [250, 210, 210]
    assert sorted(node["machines"][0]["materials"]) == ["PETG", "PLA"]
    assert node["opening_hours"] == "Mo-Fr 10:00-19:00" and node["city"] == "Barcelona"


@pytest.mark.parametrize(
    "record",
    [
        {"id": "x", "name": "No GPS"},
        {"id": "x", "name": "Bad GPS", "location": {"gps-coordinates": "north"}},
        {
            "id": "x",
            "name": "Bad volume",
            "location": {"gps-coordinates": "41,2"},
            "equipment": [
                {
                    "manufacturingProcess": "https://en.wikipedia.org/wiki/Fused_filament_fabrication",
                    "buildVolume": {"x": 200},
                }
            ],
        },
        {"id": "../etc", "name": "Bad id", "location": {"gps-coordinates": "41,2"}},
    ],
)
def test_bad_okw_records_are_refused(api, tokens, record):
    response = api.post("/api/v1/nodes/import/okw", json=record, headers=bearer(tokens["admin"]))
    assert response.status_code == 422
    assert api.get("/api/v1/nodes", headers=bearer(tokens["admin"])).json() == []


# quotes ---------------------------------------------------------------------------------------


def test_a_quote_lists_the_best_labs_with_the_price_broken_down(api, tokens):
    register_lab(api, "near", 41.40, 2.17, material_price_per_kg={"PLA": 20.0})
    register_lab(api, "far", 41.45, 2.10)
    register_lab(api, "small", 41.4036, 2.1744, build=(10, 10, 10))
    design = design_id(api, tokens["designer"], size=(30, 30, 30))
    response = api.post(
        "/api/v1/quotes",
        headers=bearer(tokens["maker"]),
        json={"design_id": design, "material": "PLA", "quantity": 2, "lat": MAKER_AT[0], "lon": MAKER_AT[1]},
    )
    assert response.status_code == 200, response.text
    quote = response.json()
    part = quote["parts"][0]
    assert [c["node_id"] for c in part["candidates"]] == ["near", "far"]
    best = part["candidates"][0]
    price = best["price"]
    assert price["basis"]["material_price_per_kg"] == 20.0
    lab_price = price["material"] + price["machine_time"] + price["labour"]
    assert price["designer_share"] == pytest.approx(lab_price * 0.10, abs=0.01)
    assert price["coop_fee"] == pytest.approx(lab_price * 0.05, abs=0.01)
    assert price["total"] == pytest.approx(lab_price + price["designer_share"] + price["coop_fee"], abs=0.01)
    assert quote["total_best"] == pytest.approx(price["total"] * 2, abs=0.01)
    assert {c["check"] for c in best["checks"]} >= {"membership", "online", "licence", "process", "material", "fits"}
    assert best["score"]["total"] == pytest.approx(
        sum(best["score"][k] for k in ("distance", "lead_time", "price", "fairness")), abs=1e-3
    )
    assert any(not c["passed"] and c["check"] == "fits" for c in part["rejected"]["small"])


def test_a_non_commercial_design_is_only_made_unpaid(api, tokens):
    register_lab(api, "lab-one", 41.40, 2.17)
    design = design_id(api, tokens["designer"], licence="CC-BY-NC-4.0")
    paid = place_order(api, tokens["maker"], design)
    assert paid["status"] == "failed"
    assert "forbids commercial use" in paid["jobs"][0]["reason"]
    unpaid = place_order(api, tokens["maker"], design, paid=False)
    assert unpaid["jobs"][0]["status"] == "offered"
    assert unpaid["price_total"] == 0


# offers ---------------------------------------------------------------------------------------


def test_offers_carry_a_deadline_and_the_attribution(api, tokens):
    register_lab(api, "lab-one", 41.40, 2.17)
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    [(_, offer)] = outbox_messages(api)
    assert offer["deadline"] == pytest.approx(placed["jobs"][0]["offer_deadline"])
    assert offer["deadline"] > placed["created_at"]
    assert offer["attribution"][0]["licence"] == "CC-BY-SA-4.0"


def test_a_person_at_the_lab_accepts_or_declines_a_held_offer(api, tokens):
    one = register_lab(api, "lab-one", 41.40, 2.17, auto_accept=False)
    register_lab(api, "lab-two", 41.45, 2.10)
    first = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    job = first["jobs"][0]["id"]
    assert send_event(api, "lab-one", job, 1, EventType.PROGRESS, stage="checking")
    assert send_event(api, "lab-one", job, 2, EventType.PROGRESS, stage="awaiting_acceptance")
    maker_try = api.post(f"/api/v1/jobs/{job}/accept", headers=bearer(tokens["maker"]))
    assert maker_try.status_code == 403
    accepted = api.post(f"/api/v1/jobs/{job}/accept", headers=lab_token(one))
    assert accepted.status_code == 200, accepted.text
    topic, command = outbox_messages(api)[-1]
    assert topic == "cofab/v1/nodes/lab-one/jobs" and command["command"] == "accept"

    second = place_order(api, tokens["maker"], design_id(api, tokens["designer"], size=(10, 10, 10)))
    job2 = second["jobs"][0]["id"]
    declined = api.post(f"/api/v1/jobs/{job2}/decline", json={"reason": "out of PLA today"}, headers=lab_token(one))
    assert declined.status_code == 200
    assert declined.json()["node_id"] == "lab-two"
    view = api.get(f"/api/v1/orders/{second['id']}", headers=bearer(tokens["maker"])).json()
    assert any("out of PLA today" in e["message"] for e in view["events"])
    assert [m["command"] for t, m in outbox_messages(api) if m.get("kind") == "command"] == [
        "accept",
        "cancel",
    ]
    # A lab cannot decide on another lab's offer, nor on a job it already accepted.
    assert api.post(f"/api/v1/jobs/{job2}/accept", headers=lab_token(one)).status_code == 404
    assert send_event(api, "lab-one", job, 3, EventType.ACCEPTED, machine_id="p1")
    assert api.post(f"/api/v1/jobs/{job}/decline", headers=lab_token(one)).status_code == 409


def test_a_maker_cancels_jobs_that_have_not_started(api, tokens):
    register_lab(api, "lab-one", 41.40, 2.17)
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]), quantity=2)
    running, waiting = (j["id"] for j in placed["jobs"])
    assert send_event(api, "lab-one", running, 1, EventType.ACCEPTED, machine_id="p1")
    assert send_event(api, "lab-one", running, 2, EventType.PROGRESS, stage="running", percent=5)
    result = api.post(f"/api/v1/orders/{placed['id']}/cancel", headers=bearer(tokens["maker"]))
    assert result.status_code == 200, result.text
    assert result.json()["cancelled"] == [waiting] and result.json()["still_running"] == [running]
    assert outbox_messages(api)[-1][1] == {
        **outbox_messages(api)[-1][1],
        "command": "cancel",
        "job_id": waiting,
    }
    assert not send_event(api, "lab-one", waiting, 1, EventType.ACCEPTED)  # cancelled is final
    again = api.post(f"/api/v1/orders/{placed['id']}/cancel", headers=bearer(tokens["maker"]))
    assert again.status_code == 409 and "already running" in again.json()["detail"]
    other = api.post("/api/v1/tokens", json={"role": "maker", "name": "x"}, headers=bearer(tokens["admin"])).json()
    assert api.post(f"/api/v1/orders/{placed['id']}/cancel", headers=bearer(other["token"])).status_code == 404


# split orders -------------------------------------------------------------------------------


def two_part_design(api, tokens, big, small, *, small_quantity: int = 1) -> str:
    """A design of two parts (two staged uploads), published through the catalogue API."""
    uploads = [
        stage_upload(api, tokens["designer"], stl_bytes(box(size)), name).json()["id"]
        for name, size in (("big.stl", big), ("small.stl", small))
    ]
    parts = [{"upload_id": uploads[0]}, {"upload_id": uploads[1], "quantity": small_quantity}]
    return publish_parts(api, tokens["designer"], parts, title="Two parts", licence="CC-BY-SA-4.0")["id"]


def test_an_order_stays_at_one_lab_when_one_can_make_every_part(api, tokens):
    register_lab(api, "small-near", 41.4036, 2.1744, build=(100, 100, 100))
    register_lab(api, "big-far", 41.45, 2.10, build=(300, 300, 300))
    placed = place_order(
        api,
        tokens["maker"],
        two_part_design(api, tokens, big=(250, 50, 50), small=(20, 20, 20), small_quantity=3),
        quantity=2,
    )
    assert len(placed["jobs"]) == 2 * (1 + 3)  # order quantity x each part's quantity
    assert {j["node_id"] for j in placed["jobs"]} == {"big-far"}


def test_an_order_is_split_when_no_lab_can_make_every_part(api, tokens):
    # A flat plate fits only the wide, low machine; a tall post fits only the cube-shaped one.
    register_lab(api, "wide-low", 41.4036, 2.1744, build=(300, 300, 30))
    register_lab(api, "cube", 41.45, 2.10, build=(200, 200, 200))
    placed = place_order(api, tokens["maker"], two_part_design(api, tokens, big=(250, 250, 20), small=(50, 50, 150)))
    assert len(placed["jobs"]) == 2
    assert {j["node_id"] for j in placed["jobs"]} == {"wide-low", "cube"}
    assert any(e["kind"] == "split" for e in placed["events"])


def _offline_lab(api, lab_id: str) -> Any:
    """A registered lab whose node has reported itself offline; the app's services."""
    register_lab(api, lab_id, 41.40, 2.17)
    services = api.app.state.services
    with Session(services.engine) as session:
        apply_status(session, lab_id, NodeStatus(node_id=lab_id, online=False), services.registry)
    return services


def test_a_job_waits_while_every_capable_lab_is_offline_and_goes_out_when_one_returns(api, tokens):
    from hub.dispatch.sweeps import route_waiting_jobs

    services = _offline_lab(api, "lab-one")
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    assert placed["status"] == "placed" and placed["jobs"][0]["status"] == "waiting"
    assert "node is offline" in placed["jobs"][0]["reason"]
    with Session(services.engine) as session:
        assert route_waiting_jobs(session, services.dispatch) == 0  # still offline
    report_status(api, "lab-one")
    with Session(services.engine) as session:
        assert route_waiting_jobs(session, services.dispatch) == 1
    view = api.get(f"/api/v1/orders/{placed['id']}", headers=bearer(tokens["maker"])).json()
    assert view["jobs"][0]["status"] == "offered" and view["jobs"][0]["node_id"] == "lab-one"
    assert [e["kind"] for e in view["events"]].count("waiting") == 1


def test_a_job_no_lab_could_ever_make_fails_at_once(api, tokens):
    _offline_lab(api, "lab-one")
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"], size=(500, 20, 20)))
    assert placed["status"] == "failed"  # offline, but it would not fit anyway


def test_a_waiting_job_fails_when_patience_runs_out(api, tokens):
    from hub.dispatch.sweeps import route_waiting_jobs

    services = _offline_lab(api, "lab-one")
    placed = place_order(api, tokens["maker"], design_id(api, tokens["designer"]))
    services.dispatch.routing_patience_s = 0.0
    with Session(services.engine) as session:
        route_waiting_jobs(session, services.dispatch)
    view = api.get(f"/api/v1/orders/{placed['id']}", headers=bearer(tokens["maker"])).json()
    assert view["status"] == "failed" and "node is offline" in view["jobs"][0]["reason"]
