"""Loading generated meshes in every format, and turning every kind of bad file into a
DesignFileError with a one-line reason."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from designs import (
    DesignFileError,
    EmptyMeshError,
    MeshFormat,
    MeshTooLargeError,
    NotAMeshError,
    TruncatedMeshError,
    formats,
    load_mesh,
)
from designs.loading import MESH_UNITS, SOURCE_UNITS_KEY
from tests.designs.conftest import encode


@pytest.mark.parametrize("fmt", list(MeshFormat))
@pytest.mark.parametrize("given", [True, False])
def test_box_in_every_format_from_a_hash_name(write_mesh, box20: trimesh.Trimesh, fmt: MeshFormat, given: bool) -> None:
    path = write_mesh(box20, fmt, name="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    mesh = load_mesh(path, fmt if given else None)
    assert isinstance(mesh, trimesh.Trimesh)
    assert len(mesh.faces) == 12
    assert len(mesh.vertices) == 8  # merged
    assert mesh.units == MESH_UNITS
    np.testing.assert_allclose(mesh.extents, [20, 20, 20])


def test_wrong_extension_does_not_matter(write_mesh, box20: trimesh.Trimesh) -> None:
    path = write_mesh(box20, MeshFormat.OBJ, name="actually-an-obj.stl")
    assert len(load_mesh(path).faces) == 12


def _two_boxes() -> trimesh.Scene:
    a = trimesh.creation.box(extents=(10, 10, 10))
    b = trimesh.creation.box(extents=(10, 10, 10))
    b.apply_translation((30, 0, 0))
    return trimesh.Scene([a, b])


@pytest.mark.parametrize("fmt", [MeshFormat.THREEMF, MeshFormat.STL_ASCII])
def test_scene_becomes_one_mesh_with_transforms_baked(write_bytes, fmt: MeshFormat) -> None:
    scene = _two_boxes()
    if fmt is MeshFormat.STL_ASCII:  # a multi-solid ASCII STL: two solid...endsolid blocks
        data = b"".join(encode(g, fmt) for g in scene.dump())
    else:
        data = encode(scene, fmt)
    mesh = load_mesh(write_bytes(data))
    assert len(mesh.faces) == 24
    assert mesh.body_count == 2
    np.testing.assert_allclose(mesh.extents, [40, 10, 10])


def test_3mf_units_are_converted_to_mm(write_bytes, box20: trimesh.Trimesh) -> None:
    data = encode(box20, MeshFormat.THREEMF)
    inch = _rewrite_model(data, lambda xml: xml.replace(b'unit="millimeter"', b'unit="inch"'))
    mesh = load_mesh(write_bytes(inch, "inch.3mf"))
    np.testing.assert_allclose(mesh.extents, [508, 508, 508])
    assert mesh.metadata[SOURCE_UNITS_KEY] == "inch"
    assert load_mesh(write_bytes(data, "mm.3mf")).metadata[SOURCE_UNITS_KEY] == "millimeter"


def test_stl_has_no_units_and_mm_is_assumed(write_mesh, box20: trimesh.Trimesh) -> None:
    mesh = load_mesh(write_mesh(box20, MeshFormat.STL_BINARY))
    assert mesh.metadata[SOURCE_UNITS_KEY] is None
    np.testing.assert_allclose(mesh.extents, [20, 20, 20])


def test_obj_material_reference_is_not_followed(write_bytes, tmp_path: Path, box20: trimesh.Trimesh) -> None:
    # a hostile OBJ may point at files outside its folder; loading from a stream gives
    # trimesh no folder to resolve them from
    outside = tmp_path / "secret.mtl"
    outside.write_text("newmtl leaked\nKd 1 0 0\n")
    data = (
        b"mtllib ../secret.mtl\nmtllib " + str(outside).encode() + b"\nusemtl leaked\n" + encode(box20, MeshFormat.OBJ)
    )
    mesh = load_mesh(write_bytes(data, "hostile"))
    assert len(mesh.faces) == 12
    assert "leaked" not in repr(getattr(mesh.visual, "material", ""))


def test_cr_only_ascii_stl_loads(write_bytes, box20: trimesh.Trimesh) -> None:
    data = encode(box20, MeshFormat.STL_ASCII).replace(b"\n", b"\r")
    assert len(load_mesh(write_bytes(data)).faces) == 12


# --- files that must become DesignFileError -------------------------------------------


def test_zero_triangle_binary_stl(write_bytes) -> None:
    with pytest.raises(EmptyMeshError, match="binary STL file holds no triangles"):
        load_mesh(write_bytes(b"\x00" * 84))


def test_empty_ascii_stl(write_bytes) -> None:
    with pytest.raises(EmptyMeshError, match="ASCII STL file holds no triangles"):
        load_mesh(write_bytes(b"solid empty\nendsolid empty\n"))


def test_obj_without_faces(write_bytes) -> None:
    with pytest.raises(EmptyMeshError):
        load_mesh(write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "points.obj"))


def test_truncated_ascii_stl(write_bytes) -> None:
    data = encode(trimesh.creation.icosphere(), MeshFormat.STL_ASCII)
    cut = data[: len(data) // 2]
    cut = cut[: cut.rfind(b"vertex") + 12]  # stop in the middle of a vertex line
    with pytest.raises(TruncatedMeshError, match="without 'endsolid'"):
        load_mesh(write_bytes(cut))


def test_ascii_stl_vertex_lines_with_wrong_counts(write_bytes) -> None:
    # 2 numbers then 4: trimesh alone would read 9 numbers and shift every coordinate
    data = (
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\nvertex 0 1 0 0\n"
        b"endloop\nendfacet\nendsolid x\n"
    )
    with pytest.raises(NotAMeshError, match="line 5 of the ASCII STL is a vertex without exactly 3 coordinates"):
        load_mesh(write_bytes(data))


def test_truncated_second_solid_is_not_silently_dropped(write_bytes, box20: trimesh.Trimesh) -> None:
    whole = encode(box20, MeshFormat.STL_ASCII)
    data = whole + whole[: len(whole) // 2]
    with pytest.raises(TruncatedMeshError):
        load_mesh(write_bytes(data))


def test_unparseable_ascii_stl_gives_one_line(write_bytes) -> None:
    data = (
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 zero\nvertex 0 1 0\n"
        b"endloop\nendfacet\nendsolid x\n"
    )
    with pytest.raises(NotAMeshError) as caught:
        load_mesh(write_bytes(data))
    message = str(caught.value)
    assert message.startswith("the ASCII STL file could not be read")
    assert "\n" not in message and "Traceback" not in message


def test_nan_vertices_are_refused(write_mesh, box20: trimesh.Trimesh, write_bytes) -> None:
    data = bytearray(encode(box20, MeshFormat.STL_BINARY))
    data[84 + 12 : 84 + 16] = np.float32(np.nan).tobytes()  # first vertex's x
    with pytest.raises(NotAMeshError, match="NaN or infinity"):
        load_mesh(write_bytes(bytes(data)), MeshFormat.STL_BINARY)


def _rewrite_model(data: bytes, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            content = src.read(name)
            if name.lower().endswith(".model"):
                content = change(content)
            dst.writestr(name, content)
    return out.getvalue()


def test_3mf_without_build_element(write_bytes, box20: trimesh.Trimesh) -> None:
    import re

    data = _rewrite_model(
        encode(box20, MeshFormat.THREEMF), lambda xml: re.sub(rb"<build\b.*</build>", b"", xml, flags=re.S)
    )
    with pytest.raises(NotAMeshError, match="no <build> element"):
        load_mesh(write_bytes(data))


def test_3mf_without_triangles(write_bytes, box20: trimesh.Trimesh) -> None:
    import re

    data = _rewrite_model(
        encode(box20, MeshFormat.THREEMF),
        lambda xml: re.sub(rb"<triangles>.*</triangles>", b"<triangles/>", xml, flags=re.S),
    )
    with pytest.raises(EmptyMeshError, match="no triangles"):
        load_mesh(write_bytes(data))


def test_3mf_garbage_xml(write_bytes, box20: trimesh.Trimesh) -> None:
    data = _rewrite_model(encode(box20, MeshFormat.THREEMF), lambda xml: xml[: len(xml) // 2])
    with pytest.raises(NotAMeshError):
        load_mesh(write_bytes(data))


def test_3mf_checks_run_even_when_the_format_is_given(
    write_bytes, box20: trimesh.Trimesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the hub sniffs the upload's head, then passes the format: the ZIP guard must still run
    path = write_bytes(encode(box20, MeshFormat.THREEMF))
    monkeypatch.setattr(formats, "MAX_3MF_UNCOMPRESSED_BYTES", 100)
    with pytest.raises(MeshTooLargeError):
        load_mesh(path, MeshFormat.THREEMF)


def test_wrong_format_given_still_gives_a_design_error(write_mesh, box20: trimesh.Trimesh) -> None:
    path = write_mesh(box20, MeshFormat.OBJ)
    with pytest.raises(DesignFileError):
        load_mesh(path, MeshFormat.STL_BINARY)


def test_missing_file_is_not_a_design_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_mesh(tmp_path / "nope.stl")


def test_nan_in_a_multi_solid_ascii_stl(write_bytes, box20: trimesh.Trimesh) -> None:
    whole = encode(box20, MeshFormat.STL_ASCII)
    broken = whole.replace(b"vertex -10.0 -10.0 10.0", b"vertex nan -10.0 10.0", 1)
    assert broken != whole
    with pytest.raises(NotAMeshError, match="NaN or infinity"):
        load_mesh(write_bytes(whole + broken))
