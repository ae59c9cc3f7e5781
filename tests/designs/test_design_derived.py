"""Files derived from a design: thumbnail PNG, repaired STL, viewer GLB; and the 3MF
container checks that run before anything is inflated."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from designs import (
    MeshFormat,
    MeshTooLargeError,
    NotAMeshError,
    TruncatedMeshError,
    analyze_mesh,
    formats,
    render_thumbnail,
    repair_mesh,
    thumbnail,
    viewer_mesh,
)

# --- thumbnails ---------------------------------------------------------------------


def _picture(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGBA"
    return np.asarray(image)


def test_thumbnail_of_a_mesh(box20: trimesh.Trimesh) -> None:
    pixels = _picture(render_thumbnail(box20, size_px=128))
    assert pixels.shape == (128, 128, 4)
    assert pixels[0, 0, 3] == 0 and pixels[-1, -1, 3] == 0  # transparent corners
    assert pixels[64, 64, 3] == 255  # the part fills the middle
    covered = pixels[..., 3] > 0
    assert 0.2 < covered.mean() < 0.9
    # three visible faces of a cube, each lit differently
    shades = {tuple(p) for p in pixels[covered & (pixels[..., 3] == 255)][:, :3]}
    assert len(shades) >= 3


def test_thumbnail_from_a_file_path(write_mesh, box20: trimesh.Trimesh) -> None:
    for fmt in (MeshFormat.STL_BINARY, MeshFormat.THREEMF):
        pixels = _picture(render_thumbnail(write_mesh(box20, fmt), size_px=64))
        assert pixels.shape == (64, 64, 4) and pixels[32, 32, 3] == 255


def test_inside_out_mesh_looks_the_same(box20: trimesh.Trimesh) -> None:
    inverted = trimesh.Trimesh(box20.vertices, box20.faces[:, ::-1])
    assert render_thumbnail(inverted, 64) == render_thumbnail(box20, 64)


def test_occlusion_nearer_part_hides_farther(tmp_path: Path) -> None:
    # a small cube in front of (nearer the camera than) a big plate: both visible, and the
    # centre pixel of the small cube shows the cube, not the plate behind it
    plate = trimesh.creation.box(extents=(40, 2, 40))
    plate.apply_translation((0, 30, 0))
    cube = trimesh.creation.box(extents=(10, 10, 10))
    pixels = _picture(render_thumbnail(trimesh.util.concatenate([plate, cube]), 128))
    assert (pixels[..., 3] == 255).mean() > 0.2


def test_thumbnail_of_a_large_mesh_under_a_small_sample_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5)
    monkeypatch.setattr(thumbnail, "MAX_RASTER_SAMPLES", 20_000)  # forces lower internal sizes
    pixels = _picture(render_thumbnail(sphere, 128))
    assert pixels.shape == (128, 128, 4) and pixels[64, 64, 3] == 255


def test_thumbnail_size_is_checked(box20: trimesh.Trimesh) -> None:
    with pytest.raises(ValueError):
        render_thumbnail(box20, size_px=8)


# --- repair ---------------------------------------------------------------------------


def _write_stl(tmp_path: Path, mesh: trimesh.Trimesh, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(trimesh.exchange.stl.export_stl(mesh))
    return path


def test_clean_mesh_needs_no_repair(write_mesh, box20: trimesh.Trimesh) -> None:
    assert repair_mesh(write_mesh(box20, MeshFormat.STL_BINARY)) is None


def test_flipped_face_is_repaired_beside_the_original(tmp_path: Path, box20: trimesh.Trimesh) -> None:
    faces = box20.faces.copy()
    faces[0] = faces[0][::-1]
    path = _write_stl(tmp_path, trimesh.Trimesh(box20.vertices, faces, process=False), "flipped.stl")
    original = path.read_bytes()
    result = repair_mesh(path)
    assert result is not None
    assert path.read_bytes() == original  # never replaced
    assert result.actions == ("reoriented 1 face so every body's faces point outward",)
    repaired = tmp_path / "repaired.stl"
    repaired.write_bytes(result.stl)
    again = analyze_mesh(repaired)
    assert again.winding_consistent and again.watertight
    assert again.volume == pytest.approx(8000.0)
    assert result.analysis.verdict == again.verdict == "printable"


def test_inside_out_mesh_is_turned_outward(tmp_path: Path, box20: trimesh.Trimesh) -> None:
    path = _write_stl(tmp_path, trimesh.Trimesh(box20.vertices, box20.faces[:, ::-1], process=False), "inv.stl")
    result = repair_mesh(path)
    assert result is not None and "point outward" in result.actions[0]
    assert result.analysis.reasons == ()


def test_small_hole_is_capped(tmp_path: Path, box20: trimesh.Trimesh) -> None:
    path = _write_stl(tmp_path, trimesh.Trimesh(box20.vertices, box20.faces[:-1], process=False), "open.stl")
    result = repair_mesh(path)
    assert result is not None
    assert result.actions == ("capped small holes with 1 face",)
    assert result.analysis.watertight and result.analysis.volume == pytest.approx(8000.0)


def test_large_hole_is_not_repairable(tmp_path: Path) -> None:
    cylinder = trimesh.creation.cylinder(radius=10, height=20, sections=32)
    top = cylinder.face_normals[:, 2] > 0.99
    path = _write_stl(tmp_path, trimesh.Trimesh(cylinder.vertices, cylinder.faces[~top], process=False), "cup.stl")
    assert repair_mesh(path) is None


# --- viewer -------------------------------------------------------------------------


def test_viewer_mesh_is_glb_in_metres_y_up(tmp_path: Path) -> None:
    part = trimesh.creation.box(extents=(30, 20, 10))  # X 30, Y 20, Z (up) 10 mm
    path = _write_stl(tmp_path, part, "part.stl")
    glb = viewer_mesh(path)
    assert glb[:4] == b"glTF"
    scene = trimesh.load(io.BytesIO(glb), file_type="glb")
    mesh = scene.to_mesh() if isinstance(scene, trimesh.Scene) else scene
    assert len(mesh.faces) == 12
    assert sorted(np.round(mesh.extents, 6)) == [0.01, 0.02, 0.03]
    assert mesh.extents[1] == pytest.approx(0.01)  # glTF's up axis is Y


# --- 3MF container checks --------------------------------------------------------------


def _threemf(tmp_path: Path, members: dict[str, bytes], name: str = "part.3mf") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_zip_bomb_part_is_refused(tmp_path: Path) -> None:
    path = _threemf(tmp_path, {"3D/3dmodel.model": b"<model/>", "Metadata/pad.bin": bytes(4 << 20)})
    with pytest.raises(MeshTooLargeError, match="zip bomb"):
        formats.check_3mf_container(path)


def test_too_many_parts_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "MAX_3MF_MEMBERS", 5)
    path = _threemf(tmp_path, {"3D/3dmodel.model": b"<model/>", **{f"m/{i}": b"x" for i in range(5)}})
    with pytest.raises(MeshTooLargeError, match="6 parts"):
        formats.check_3mf_container(path)


def test_encrypted_parts_are_refused(tmp_path: Path) -> None:
    path = _threemf(tmp_path, {"3D/3dmodel.model": b"<model/>"})
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag bit in the central directory entry (offset 8 in the entry)
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(NotAMeshError, match="encrypted"):
        formats.check_3mf_container(path)


def test_cut_archive_is_a_truncation(tmp_path: Path) -> None:
    path = _threemf(tmp_path, {"3D/3dmodel.model": b"<model/>"})
    path.write_bytes(path.read_bytes()[:-30])  # the end of the table of contents is missing
    with pytest.raises(TruncatedMeshError):
        formats.check_3mf_container(path)


def test_ordinary_3mf_passes(write_mesh, box20: trimesh.Trimesh) -> None:
    formats.check_3mf_container(write_mesh(box20, MeshFormat.THREEMF))
