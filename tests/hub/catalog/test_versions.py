"""Designs with several parts and immutable versions, published from staged uploads."""

from __future__ import annotations

from sqlmodel import Session

from hub.catalog import current_parts
from tests.factories import bearer, cube, publish_design, stage_upload
from tests.hub.catalog.conftest import stored


def _create(api, token, parts, **meta):
    body = {
        "title": "Shelf",
        "licence": "CERN-OHL-S-2.0",
        "tags": ["Storage", "shelf"],
        "materials": ["PLA", "PETG"],
        "parts": parts,
        **meta,
    }
    return api.post("/api/v1/designs", json=body, headers=bearer(token))


def test_a_design_of_several_parts_with_quantities(api, tokens):
    foot = stage_upload(api, tokens["designer"], cube(10), "foot.stl").json()
    top = stage_upload(api, tokens["designer"], cube(40), "top.stl").json()
    assert foot["kind"] == "mesh" and foot["analysis"]["faces"] == 12
    response = _create(
        api,
        tokens["designer"],
        [{"upload_id": foot["id"], "quantity": 4, "name": "Foot"}, {"upload_id": top["id"]}],
        co_authors=["Grace Hopper"],
    )
    assert response.status_code == 201, response.text
    design = response.json()
    assert design["latest_version"] == 1 and [v["number"] for v in design["versions"]] == [1]
    assert [(f["part_name"], f["quantity"], f["filename"]) for f in design["files"]] == [
        ("Foot", 4, "foot.stl"),
        ("top.stl", 1, "top.stl"),
    ]
    assert design["tags"] == ["storage", "shelf"] and design["authors"] == ["test designer", "Grace Hopper"]
    with Session(api.app.state.services.engine) as session:
        parts = current_parts(session, design["id"])
    assert [(p.filename, p.quantity) for p in parts] == [("foot.stl", 4), ("top.stl", 1)]


def test_versions_are_immutable_and_numbered(api, tokens):
    design = publish_design(api, tokens["designer"], cube(20), filename="v1.stl").json()
    first = api.get(f"/api/v1/designs/{design['id']}/versions/1", headers=bearer(tokens["maker"])).json()
    upload = stage_upload(api, tokens["designer"], cube(25), "v2.stl").json()
    response = api.post(
        f"/api/v1/designs/{design['id']}/versions",
        headers=bearer(tokens["designer"]),
        json={"parts": [{"upload_id": upload["id"], "quantity": 2}], "label": "2.0", "note": "bigger"},
    )
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["number"] == 2 and second["label"] == "2.0" and second["files"][0]["quantity"] == 2
    again = api.get(f"/api/v1/designs/{design['id']}/versions/1", headers=bearer(tokens["maker"])).json()
    assert again == first
    latest = api.get(f"/api/v1/designs/{design['id']}", headers=bearer(tokens["maker"])).json()
    assert latest["latest_version"] == 2 and latest["files"][0]["filename"] == "v2.stl"
    with Session(api.app.state.services.engine) as session:
        assert [p.filename for p in current_parts(session, design["id"])] == ["v2.stl"]
    assert api.get(f"/api/v1/designs/{design['id']}/versions/3", headers=bearer(tokens["maker"])).status_code == 404


def test_only_the_owner_publishes_versions_and_only_with_own_uploads(api, tokens):
    design = publish_design(api, tokens["designer"]).json()
    other = api.post(
        "/api/v1/tokens", json={"role": "designer", "name": "other"}, headers=bearer(tokens["admin"])
    ).json()["token"]
    theirs = stage_upload(api, other, cube(11)).json()
    mine = stage_upload(api, tokens["designer"], cube(12)).json()
    url = f"/api/v1/designs/{design['id']}/versions"
    denied = api.post(url, json={"parts": [{"upload_id": theirs["id"]}]}, headers=bearer(other))
    assert denied.status_code == 403
    foreign = api.post(url, json={"parts": [{"upload_id": theirs["id"]}]}, headers=bearer(tokens["designer"]))
    assert foreign.status_code == 422 and "no upload" in foreign.json()["detail"]
    assert (
        api.post(url, json={"parts": [{"upload_id": mine["id"]}]}, headers=bearer(tokens["maker"])).status_code == 403
    )
    assert api.post(url, json={"parts": []}, headers=bearer(tokens["designer"])).status_code == 422
    assert (
        api.post(
            url, json={"parts": [{"upload_id": mine["id"], "quantity": 0}]}, headers=bearer(tokens["designer"])
        ).status_code
        == 422
    )


def test_anyone_authenticated_reads_but_only_designers_stage(api, tokens):
    design = publish_design(api, tokens["designer"]).json()
    for role in ("maker", "lab", "city"):
        assert api.get(f"/api/v1/designs/{design['id']}", headers=bearer(tokens[role])).status_code == 200
        assert stage_upload(api, tokens[role], cube(), expect=403)
    assert api.get(f"/api/v1/designs/{design['id']}").status_code == 401


def test_a_version_referencing_a_missing_upload_stores_nothing(api, tokens):
    design = publish_design(api, tokens["designer"]).json()
    before = stored(api)
    response = api.post(
        f"/api/v1/designs/{design['id']}/versions",
        json={"parts": [{"upload_id": "u_nope"}]},
        headers=bearer(tokens["designer"]),
    )
    assert response.status_code == 422
    assert stored(api) == before


def test_metadata_changes_do_not_touch_versions(api, tokens):
    design = publish_design(api, tokens["designer"], tags="old").json()
    response = api.patch(
        f"/api/v1/designs/{design['id']}",
        headers=bearer(tokens["designer"]),
        json={"title": "Renamed", "tags": ["New", "new", "other"], "materials": ["PETG"]},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "Renamed" and updated["tags"] == ["new", "other"] and updated["materials"] == ["PETG"]
    assert updated["files"] == design["files"] and updated["licence"] == design["licence"]
    bad = api.patch(f"/api/v1/designs/{design['id']}", headers=bearer(tokens["designer"]), json={"licence": "MIT"})
    assert bad.status_code == 200 and bad.json()["licence"] == design["licence"]  # licence is not changeable


def test_openapi_documents_both_publish_bodies_and_every_reference_resolves(api):
    import json
    import re

    spec = api.get("/openapi.json").json()
    bodies = spec["paths"]["/api/v1/designs"]["post"]["requestBody"]["content"]
    assert {"application/octet-stream", "application/json"} <= set(bodies)
    refs = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"])
