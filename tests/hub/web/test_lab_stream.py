"""The lab console stream finds its lab through `hub.deps.current_lab`: a lab token may open
only its own lab's stream, an admin any existing lab's; every other case is a 404."""

from __future__ import annotations


def _register(api, tokens, node_id: str) -> str:
    response = api.post(
        "/api/v1/nodes",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        json={"id": node_id, "name": node_id, "lat": 41.4, "lon": 2.17, "machines": []},
    )
    assert response.status_code == 201, response.text
    return response.json()["api_token"]


def test_a_lab_token_cannot_open_another_labs_stream(api, tokens):
    _register(api, tokens, "lab-a")
    token_b = _register(api, tokens, "lab-b")
    response = api.get("/api/v1/labs/lab-a/console/stream", headers={"Authorization": f"Bearer {token_b}"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no lab 'lab-a' for this token"}


def test_an_unknown_lab_is_not_found_for_an_admin(api, tokens):
    response = api.get("/api/v1/labs/nowhere/console/stream", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no lab 'nowhere'"}


def test_other_roles_are_refused(api, tokens):
    _register(api, tokens, "lab-a")
    response = api.get("/api/v1/labs/lab-a/console/stream", headers={"Authorization": f"Bearer {tokens['maker']}"})
    assert response.status_code == 403
