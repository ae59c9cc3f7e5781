"""Analysis stored per file, derived files beside the original (repaired mesh, thumbnail PNG,
viewer GLB), and outlines (SVG, DXF) for laser and CNC designs."""

from __future__ import annotations

import trimesh

from cofab.devstack.samples import open_box, stl_bytes
from tests.factories import bearer, cube, publish_design, publish_parts, stage_upload
from tests.hub.catalog.conftest import corpus_file


def test_analysis_is_stored_with_its_key_columns(api, tokens):
    design = publish_design(api, tokens["designer"], cube(20)).json()
    part = design["files"][0]
    assert part["kind"] == "mesh" and part["verdict"] == part["analysis"]["verdict"]
    assert part["watertight"] is True and sorted(part["size_mm"]) == [20, 20, 20]
    for key in (
        "faces",
        "vertices",
        "bbox_extents",
        "volume",
        "surface_area",
        "winding_consistent",
        "bodies",
        "degenerate_faces",
        "nonmanifold_edges",
        "overhang_fraction",
        "reasons",
    ):
        assert key in part["analysis"], key


def test_thumbnail_and_viewer_mesh_are_served(api, tokens):
    design = publish_design(api, tokens["designer"], cube(20)).json()
    part = design["files"][0]
    headers = bearer(tokens["maker"])
    png = api.get(part["thumbnail_url"], headers=headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    glb = api.get(part["viewer_url"], headers=headers)
    assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
    assert glb.content[:4] == b"glTF"
    assert api.get(part["thumbnail_url"]).status_code == 401
    other = part["thumbnail_url"].replace(f"/files/{part['id']}/", "/files/999999/")
    assert api.get(other, headers=headers).status_code == 404
    wrong_version = part["thumbnail_url"].replace("/versions/1/", "/versions/2/")
    assert api.get(wrong_version, headers=headers).status_code == 404


def test_a_repairable_mesh_keeps_its_original_and_gets_a_repaired_copy(api, tokens):
    upload = stage_upload(api, tokens["designer"], stl_bytes(open_box()), "open.stl").json()
    repaired = [d for d in upload["derived"] if d["kind"] == "repaired"]
    assert repaired, upload["derived"]
    assert repaired[0]["sha256"] != upload["sha256"] and repaired[0]["detail"]["actions"]
    assert repaired[0]["detail"]["analysis"]["watertight"] is True
    store = api.app.state.services.files
    assert store.exists(upload["sha256"]) and store.exists(repaired[0]["sha256"])
    design = api.post(
        "/api/v1/designs",
        headers=bearer(tokens["designer"]),
        json={"title": "Open box", "parts": [{"upload_id": upload["id"]}]},
    ).json()
    part = design["files"][0]
    assert part["sha256"] == upload["sha256"] and part["watertight"] is False
    assert part["repaired"]["sha256"] == repaired[0]["sha256"]


def test_a_clean_mesh_gets_no_repaired_copy(api, tokens):
    upload = stage_upload(api, tokens["designer"], stl_bytes(trimesh.creation.icosphere(subdivisions=2))).json()
    assert "repaired" not in {d["kind"] for d in upload["derived"]}


def test_svg_and_dxf_outlines_for_laser_designs(api, tokens):
    svg = stage_upload(api, tokens["designer"], corpus_file("svg/boxes_ABox.svg").read_bytes(), "box.svg").json()
    dxf = stage_upload(
        api, tokens["designer"], corpus_file("dxf/voron2_250_Deck_Panel.dxf").read_bytes(), "deck.dxf"
    ).json()
    for upload, fmt in ((svg, "svg"), (dxf, "dxf")):
        assert upload["kind"] == "outline" and upload["format"] == fmt
        assert upload["analysis"]["cut_length_mm"] > 0 and upload["analysis"]["closed_paths"] >= 1
        assert upload["derived"] == []
    parts = [{"upload_id": dxf["id"]}, {"upload_id": svg["id"], "quantity": 2}]
    design = publish_parts(
        api, tokens["designer"], parts, title="Deck panel", process="laser", materials=["acrylic 3mm"]
    )
    files = design["files"]
    assert [f["kind"] for f in files] == ["outline", "outline"]
    assert files[0]["size_mm"][2] == 0 and files[0]["faces"] is None and files[0]["thumbnail_url"] is None
    assert files[0]["size_mm"][0] > 100  # the Voron deck panel is about 250 mm


def test_a_broken_svg_is_refused(api, tokens):
    response = stage_upload(
        api, tokens["designer"], b"<svg xmlns='http://www.w3.org/2000/svg'><path d='M 0 0 L'", "cut.svg", expect=None
    )
    assert response.status_code == 422, response.text
