"""Sign-in cookie, CSRF, page access by role and the order stream, without a browser."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import Session

from hub.orders.models import Order, OrderEvent
from hub.web.session import COOKIE
from tests.factories import bearer, design_row, token_rows


def sign_in(api, token: str, next_url: str = "") -> None:
    api.cookies.clear()
    response = api.post("/login", data={"token": token, "next": next_url}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_the_cookie_is_httponly_strict_and_pages_need_it(api, tokens):
    response = api.get("/city", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fcity"
    response = api.post("/login", data={"token": tokens["city"], "next": "/city"}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert response.headers["location"] == "/city"
    page = api.get("/city")
    assert page.status_code == 200 and "Relocalised production" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_bad_token_and_a_foreign_next_are_refused(api, tokens):
    response = api.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert response.status_code == 401 and "not valid" in response.text
    response = api.post("/login", data={"token": tokens["maker"], "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/catalogue"
    response = api.post(
        "/login", data={"token": tokens["maker"]}, headers={"Origin": "http://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403


def test_state_changes_with_the_cookie_need_the_csrf_token(api, tokens):
    sign_in(api, tokens["designer"])
    html = api.get("/designer").text
    body = {"title": "x", "parts": [{"upload_id": "u_missing"}]}
    refused = api.post("/api/v1/designs", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = api.post("/api/v1/designs", json=body, headers={"X-CSRF-Token": "0" * 40})
    assert wrong.status_code == 403
    # with the page's token the request reaches the API (which then says what is wrong with it)
    passed = api.post("/api/v1/designs", json=body, headers={"X-CSRF-Token": csrf_of(html)})
    assert passed.status_code in (404, 422), passed.text
    # reads need no CSRF token; an explicit bearer header is left alone
    assert api.get("/api/v1/licences").status_code == 200
    api.cookies.clear()
    assert api.get("/api/v1/licences").status_code == 401
    assert api.get("/api/v1/licences", headers=bearer(tokens["maker"])).status_code == 200


def test_each_face_is_for_its_role(api, tokens):
    sign_in(api, tokens["maker"])
    assert api.get("/catalogue").status_code == 200
    wrong = api.get("/city")
    assert wrong.status_code == 403 and "for citys" not in wrong.text and "signed in as" in wrong.text
    sign_in(api, tokens["designer"])
    assert api.get("/designer").status_code == 200 and api.get("/lab").status_code == 403


def test_sign_out_needs_the_page_token_and_clears_the_cookie(api, tokens):
    sign_in(api, tokens["maker"])
    html = api.get("/catalogue").text
    assert api.post("/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    response = api.post("/logout", data={"csrf": csrf_of(html)}, follow_redirects=False)
    assert response.status_code == 303 and f'{COOKIE}=""' in response.headers["set-cookie"]


@pytest.fixture
def finished_order(api, tokens) -> str:
    with Session(api.app.state.services.engine) as s:
        people = token_rows(s)
        design_row(s, "d_s", "Streamed", created_at=1.0)
        s.flush()
        s.add(
            Order(
                id="o_s",
                design_id="d_s",
                maker_token_id=people["maker"].id,
                material="PLA",
                quantity=1,
                lat=41.4,
                lon=2.17,
                status="completed",
                created_at=1.0,
                updated_at=3.0,
                completed_at=3.0,
            )
        )
        s.flush()
        for i, kind in enumerate(("placed", "offered", "completed")):
            s.add(OrderEvent(order_id="o_s", at=1.0 + i, kind=kind, message=f"{kind} message"))
        s.commit()
    return "o_s"


def events_of(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_the_order_stream_sends_history_state_and_ends(api, tokens, finished_order):
    with api.stream("GET", f"/api/v1/orders/{finished_order}/stream", headers=bearer(tokens["maker"])) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = events_of(text)
    assert [e for e, _ in events] == ["history", "history", "history", "order", "end"]
    assert [d["kind"] for e, d in events if e == "history"] == ["placed", "offered", "completed"]
    assert events[3][1]["status"] == "completed" and events[3][1]["design_title"] == "Streamed"
    # resuming after the second row sends only the third
    with api.stream(
        "GET",
        f"/api/v1/orders/{finished_order}/stream",
        headers={**bearer(tokens["maker"]), "Last-Event-ID": str(events[1][1]["id"])},
    ) as response:
        resumed = events_of("".join(response.iter_text()))
    assert [d["kind"] for e, d in resumed if e == "history"] == ["completed"]
    # another maker's order is not there for this maker
    other = api.post("/api/v1/tokens", json={"role": "maker", "name": "other"}, headers=bearer(tokens["admin"]))
    assert api.get(f"/api/v1/orders/{finished_order}/stream", headers=bearer(other.json()["token"])).status_code == 404
