"""Every endpoint needs a token of the right role."""

from __future__ import annotations

import pytest

from cofab.devstack.samples import box, stl_bytes
from tests.factories import bearer

ORDER = {"design_id": "d_missing", "material": "PLA", "quantity": 1, "lat": 41.39, "lon": 2.17}
NODE = {
    "id": "lab-x",
    "name": "Lab X",
    "lat": 41.4,
    "lon": 2.19,
    "machines": [{"machine_id": "p1", "build_volume_mm": [200, 200, 200]}],
}


def _upload(api, headers):
    return api.post(
        "/api/v1/designs",
        content=stl_bytes(box((5, 5, 5))),
        headers=headers,
        params={"filename": "a.stl", "title": "t"},
    )


def test_requests_without_a_token_are_refused(api):
    for response in (
        _upload(api, {}),
        api.post("/api/v1/orders", json=ORDER),
        api.get("/api/v1/designs"),
        api.post("/api/v1/nodes", json=NODE),
        api.get("/api/v1/nodes"),
    ):
        assert response.status_code == 401
        assert "token" in response.json()["detail"]


def test_an_unknown_token_is_refused(api):
    response = api.get("/api/v1/designs", headers=bearer("cofab_not-a-real-token"))
    assert response.status_code == 401
    assert "invalid" in response.json()["detail"]


@pytest.mark.parametrize("role", ["maker", "lab", "city"])
def test_only_designers_publish(api, tokens, role):
    response = _upload(api, bearer(tokens[role]))
    assert response.status_code == 403
    assert f"role '{role}'" in response.json()["detail"]
    assert api.app.state.services.files.count() == 0


@pytest.mark.parametrize("role", ["designer", "lab", "city"])
def test_only_makers_order(api, tokens, role):
    assert api.post("/api/v1/orders", json=ORDER, headers=bearer(tokens[role])).status_code == 403


@pytest.mark.parametrize("role", ["designer", "lab", "maker", "city"])
def test_only_admins_register_nodes_and_issue_tokens(api, tokens, role):
    assert api.post("/api/v1/nodes", json=NODE, headers=bearer(tokens[role])).status_code == 403
    assert (
        api.post("/api/v1/tokens", json={"role": "admin", "name": "x"}, headers=bearer(tokens[role])).status_code == 403
    )


def test_a_maker_sees_only_their_own_orders(api, tokens):
    design = _upload(api, bearer(tokens["designer"])).json()
    order = api.post("/api/v1/orders", json={**ORDER, "design_id": design["id"]}, headers=bearer(tokens["maker"]))
    assert order.status_code == 201
    other = api.post(
        "/api/v1/tokens", json={"role": "maker", "name": "someone else"}, headers=bearer(tokens["admin"])
    ).json()["token"]
    assert api.get(f"/api/v1/orders/{order.json()['id']}", headers=bearer(other)).status_code == 404
    assert api.get(f"/api/v1/orders/{order.json()['id']}", headers=bearer(tokens["maker"])).status_code == 200


def test_download_needs_a_valid_signed_token(api, tokens):
    design = _upload(api, bearer(tokens["designer"])).json()
    sha = design["files"][0]["sha256"]
    assert api.get(f"/api/v1/files/{sha}").status_code == 422
    assert api.get(f"/api/v1/files/{sha}", params={"token": "1.abc"}).status_code == 403
    from hub.files.tokens import sign_download

    secret = api.app.state.services.settings.secret_key
    good, _ = sign_download(secret, sha, 60)
    assert api.get(f"/api/v1/files/{sha}", params={"token": good}).status_code == 200
    expired, _ = sign_download(secret, sha, -1)
    response = api.get(f"/api/v1/files/{sha}", params={"token": expired})
    assert response.status_code == 403 and "expired" in response.json()["detail"]
    other_file, _ = sign_download(secret, "0" * 64, 60)
    assert api.get(f"/api/v1/files/{sha}", params={"token": other_file}).status_code == 403


def test_tokens_can_be_revoked_by_an_admin_or_their_holder(api, tokens):
    admin = bearer(tokens["admin"])
    issued = [api.post("/api/v1/tokens", headers=admin, json={"role": "maker", "name": n}).json() for n in "abc"]
    own, other, by_admin = issued
    assert api.get("/api/v1/nodes", headers=bearer(own["token"])).status_code == 200

    assert api.delete(f"/api/v1/tokens/{other['id']}", headers=bearer(own["token"])).status_code == 404
    assert api.delete(f"/api/v1/tokens/{own['id']}", headers=bearer(own["token"])).status_code == 204
    assert api.get("/api/v1/nodes", headers=bearer(own["token"])).status_code == 401
    assert api.delete(f"/api/v1/tokens/{by_admin['id']}", headers=admin).status_code == 204
    assert api.get("/api/v1/nodes", headers=bearer(by_admin["token"])).status_code == 401
    assert api.get("/api/v1/nodes", headers=bearer(other["token"])).status_code == 200
    assert api.delete("/api/v1/tokens/999999", headers=admin).status_code == 404
