"""Publishing designs over the API: good files are analysed; bad input is a clear 4xx and
nothing is stored (no file in the store, no row in the database)."""

from __future__ import annotations

import struct

import pytest
import trimesh

from cofab.devstack.samples import box, open_box, stl_bytes
from tests.factories import ADMIN, bearer, publish_design


def _stored(api) -> tuple[int, int]:
    services = api.app.state.services
    listed = api.get("/api/v1/designs", headers=bearer(ADMIN)).json()
    return services.files.count() + services.files.staging_count(), listed["total"]


def test_publish_binary_stl_analyses_it(api, tokens):
    response = publish_design(
        api, tokens["designer"], stl_bytes(box((20, 30, 10))), licence="CERN-OHL-S-2.0", expect=None
    )
    assert response.status_code == 201, response.text
    design = response.json()
    part = design["files"][0]
    assert part["format"] == "stl_binary"
    assert part["faces"] == 12 and part["watertight"] is True
    assert part["volume_mm3"] == pytest.approx(6000.0)
    assert sorted(part["size_mm"]) == pytest.approx([10, 20, 30])
    assert design["licence"] == "CERN-OHL-S-2.0" and design["author"] == "test designer"
    assert api.app.state.services.files.exists(part["sha256"])
    fetched = api.get(f"/api/v1/designs/{design['id']}", headers=bearer(tokens["maker"]))
    assert fetched.json()["files"][0]["sha256"] == part["sha256"]


def test_non_watertight_mesh_is_published_with_the_flag(api, tokens):
    response = publish_design(api, tokens["designer"], stl_bytes(open_box()), expect=None)
    assert response.status_code == 201
    assert response.json()["files"][0]["watertight"] is False


def _truncated_stl() -> bytes:
    data = stl_bytes(box((20, 20, 20)))
    return data[: len(data) - 30]


def _binary_stl_header_only() -> bytes:
    return b"\0" * 80 + struct.pack("<I", 1000)


@pytest.mark.parametrize(
    ("case", "data", "filename", "status", "words"),
    [
        ("empty file", b"", "part.stl", 422, "empty"),
        ("not a mesh", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "part.stl", 422, "mesh"),
        ("plain text", b"hello, this is a shopping list\nmilk\neggs\n", "part.stl", 422, "mesh"),
        ("truncated binary STL", None, "part.stl", 422, "truncated"),
        ("header-only binary STL", _binary_stl_header_only(), "part.stl", 422, "truncated"),
        ("path separators", None, "../../etc/passwd.stl", 422, "path separator"),
        ("backslash path", None, "..\\windows\\part.stl", 422, "path separator"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(api, tokens, case, data, filename, status, words):
    if data is None:
        data = _truncated_stl() if "truncated" in case else stl_bytes(box((10, 10, 10)))
    before = _stored(api)
    response = publish_design(api, tokens["designer"], data, filename=filename, expect=None)
    assert response.status_code == status, (case, response.text)
    assert words in response.json()["detail"].lower(), (case, response.json())
    assert _stored(api) == before


def test_upload_over_the_size_cap_is_refused(api, tokens, hub_settings):
    api.app.state.services.settings.upload_max_bytes = 1000
    before = _stored(api)
    response = publish_design(
        api, tokens["designer"], stl_bytes(trimesh.creation.icosphere(subdivisions=3)), expect=None
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert _stored(api) == before


def test_same_content_is_stored_once(api, tokens):
    data = stl_bytes(box((12, 12, 12)))
    first = publish_design(api, tokens["designer"], data).json()
    after_first = api.app.state.services.files.count()  # the file, and its thumbnail and viewer mesh
    second = publish_design(api, tokens["designer"], data, filename="again.stl").json()
    assert first["id"] != second["id"]
    assert first["files"][0]["sha256"] == second["files"][0]["sha256"]
    assert api.app.state.services.files.count() == after_first


def test_obj_and_3mf_are_accepted_by_content(api, tokens):
    mesh = box((15, 15, 15))
    obj = publish_design(
        api, tokens["designer"], mesh.export(file_type="obj").encode(), filename="cube.obj", expect=None
    )
    assert obj.status_code == 201, obj.text
    assert obj.json()["files"][0]["format"] == "obj"
    threemf = publish_design(api, tokens["designer"], mesh.export(file_type="3mf"), filename="cube.3mf", expect=None)
    assert threemf.status_code == 201, threemf.text
    assert threemf.json()["files"][0]["format"] == "threemf"
