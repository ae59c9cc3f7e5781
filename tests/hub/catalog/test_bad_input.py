"""Hostile and corrupt files: each is refused with a 4xx and a reason, and leaves nothing
behind (no object in the store or staging, no row in any catalogue table), both as a staged
upload and as a one-file design."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from cofab.devstack.samples import box
from tests.factories import cube, publish_design, stage_upload
from tests.hub.catalog.conftest import stored


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb_3mf() -> bytes:
    """A 3MF whose model part is 300 MB of spaces that compresses to about 300 KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("3D/3dmodel.model", "w", force_zip64=True) as model:
            chunk = b" " * (1 << 20)
            for _ in range(300):
                model.write(chunk)
    return buffer.getvalue()


def _corrupt_3mf() -> bytes:
    good = box((10, 10, 10)).export(file_type="3mf")
    return good[: len(good) // 2]


def _bad_xml_3mf() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "3D/3dmodel.model": b"<model><resources><object"})


CASES = [
    ("zip bomb 3MF", _zip_bomb_3mf, "part.3mf", 413, "inflate"),
    ("corrupt 3MF", _corrupt_3mf, "part.3mf", 422, "3mf"),
    ("3MF with broken XML", _bad_xml_3mf, "part.3mf", 422, "3mf"),
    ("ZIP that is not a 3MF", lambda: _zip({"readme.txt": b"hello"}), "part.3mf", 422, "3d/"),
    ("empty", lambda: b"", "part.stl", 422, "empty"),
    ("PNG named .stl", lambda: b"\x89PNG\r\n\x1a\n" + bytes(512), "part.stl", 422, "png"),
    ("truncated binary STL", lambda: cube()[:-30], "part.stl", 422, "truncated"),
    ("lying triangle count", lambda: b"\0" * 80 + struct.pack("<I", 10**8) + bytes(50), "part.stl", 422, "truncated"),
    (
        "NaN vertices",
        lambda: (
            b"solid x\nfacet normal 0 0 1\nouter loop\nvertex nan 0 0\nvertex 1 0 0\n"
            b"vertex 0 1 0\nendloop\nendfacet\nendsolid x\n"
        ),
        "part.stl",
        422,
        "invalid",
    ),
    ("path traversal name", cube, "../../etc/cron.d/x.stl", 422, "path separator"),
    ("control character name", cube, "part\u202eltS.exe", 422, "control"),
    ("hidden name", cube, ".bashrc", 422, "dot"),
]


@pytest.mark.parametrize(("case", "make", "filename", "status", "words"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("route", ["upload", "design"])
def test_hostile_files_are_refused_and_nothing_is_stored(api, tokens, route, case, make, filename, status, words):
    before = stored(api)
    data = make()
    if route == "upload":
        response = stage_upload(api, tokens["designer"], data, filename, expect=None)
    else:
        response = publish_design(api, tokens["designer"], data, filename=filename, expect=None)
    assert response.status_code == status, (case, response.text)
    assert words in response.json()["detail"].lower(), (case, response.json())
    assert stored(api) == before


def test_too_many_triangles_are_refused_before_analysis(api, tokens):
    api.app.state.services.settings.catalog.max_faces = 100
    before = stored(api)
    import trimesh

    from cofab.devstack.samples import stl_bytes

    response = stage_upload(api, tokens["designer"], stl_bytes(trimesh.creation.icosphere(subdivisions=3)), expect=413)
    assert "1,280 triangles" in response.json()["detail"]
    assert stored(api) == before


def test_size_cap_applies_to_staged_uploads(api, tokens):
    api.app.state.services.settings.upload_max_bytes = 500
    before = stored(api)
    response = stage_upload(api, tokens["designer"], cube(), expect=413)
    assert "limit" in response.json()["detail"]
    assert stored(api) == before
