"""Analysis values on generated meshes whose true values are known."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import trimesh

from designs import MeshAnalysis, MeshFormat, analyze_mesh, analyze_trimesh


@pytest.mark.parametrize("fmt", list(MeshFormat))
def test_20mm_box(write_mesh, box20: trimesh.Trimesh, fmt: MeshFormat) -> None:
    result = analyze_mesh(write_mesh(box20, fmt))
    assert result.format is fmt
    assert result.faces == 12
    assert result.vertices == 8
    assert result.watertight and result.winding_consistent
    assert result.volume == pytest.approx(8000.0)
    assert result.surface_area == pytest.approx(2400.0)
    assert result.bbox_min == pytest.approx((-10.0, -10.0, -10.0))
    assert result.bbox_extents == pytest.approx((20.0, 20.0, 20.0))
    assert result.bodies == 1
    assert result.source_units == ("millimeter" if fmt is MeshFormat.THREEMF else None)


def test_format_given_is_recorded(write_mesh, box20: trimesh.Trimesh) -> None:
    path = write_mesh(box20, MeshFormat.STL_BINARY)
    assert analyze_mesh(path, MeshFormat.STL_BINARY).format is MeshFormat.STL_BINARY


def test_icosphere_matches_trimesh(write_mesh) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=15.0)
    result = analyze_mesh(write_mesh(sphere, MeshFormat.STL_BINARY))
    assert result.faces == 1280
    assert result.vertices == 642
    # float32 storage in binary STL: compare with a relative tolerance
    assert result.volume == pytest.approx(sphere.volume, rel=1e-5)
    assert result.volume < 4 / 3 * np.pi * 15.0**3  # an inscribed polyhedron
    assert result.surface_area == pytest.approx(sphere.area, rel=1e-5)


def test_translated_part_keeps_its_position(write_mesh) -> None:
    part = trimesh.creation.box(extents=(30, 20, 10))
    part.apply_translation((115, 110, 5))
    result = analyze_mesh(write_mesh(part, MeshFormat.STL_BINARY))
    assert result.bbox_min == pytest.approx((100.0, 100.0, 0.0))
    assert result.bbox_extents == pytest.approx((30.0, 20.0, 10.0))


def test_open_mesh_has_no_volume(box20: trimesh.Trimesh) -> None:
    open_box = trimesh.Trimesh(box20.vertices, box20.faces[:-1])
    result = analyze_trimesh(open_box, MeshFormat.STL_BINARY)
    assert result.faces == 11
    assert not result.watertight
    assert result.volume is None


def test_one_flipped_face_breaks_winding(box20: trimesh.Trimesh) -> None:
    faces = box20.faces.copy()
    faces[0] = faces[0][::-1]
    result = analyze_trimesh(trimesh.Trimesh(box20.vertices, faces), MeshFormat.STL_BINARY)
    assert result.watertight
    assert not result.winding_consistent
    assert result.volume is None  # the signed sum would be meaningless


def test_inside_out_box_reports_material_volume(box20: trimesh.Trimesh) -> None:
    inverted = trimesh.Trimesh(box20.vertices, box20.faces[:, ::-1])
    assert inverted.volume < 0
    result = analyze_trimesh(inverted, MeshFormat.STL_BINARY)
    assert result.winding_consistent
    assert result.volume == pytest.approx(8000.0)


def test_two_bodies(write_mesh) -> None:
    a = trimesh.creation.box(extents=(10, 10, 10))
    b = trimesh.creation.icosphere(radius=5)
    b.apply_translation((30, 0, 0))
    result = analyze_mesh(write_mesh(trimesh.util.concatenate([a, b]), MeshFormat.STL_BINARY))
    assert result.bodies == 2
    assert result.volume == pytest.approx(1000 + b.volume, rel=1e-5)


def test_to_dict_is_plain_json(write_mesh, box20: trimesh.Trimesh) -> None:
    result = analyze_mesh(write_mesh(box20, MeshFormat.THREEMF))
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["format"] == "threemf"
    assert data["bbox_extents"] == pytest.approx([20.0, 20.0, 20.0])
    assert data["volume"] == pytest.approx(8000.0)
    assert set(data) == {f.name for f in dataclasses.fields(MeshAnalysis)}


def test_to_dict_without_volume(box20: trimesh.Trimesh) -> None:
    result = analyze_trimesh(trimesh.Trimesh(box20.vertices, box20.faces[:-1]), MeshFormat.OBJ)
    assert result.to_dict()["volume"] is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_analysis_is_frozen(box20: trimesh.Trimesh) -> None:
    result = analyze_trimesh(box20, MeshFormat.STL_BINARY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.faces = 1  # type: ignore[misc]


def test_single_threaded_blas_leaves_a_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from designs.oneshot import BLAS_THREAD_VARIABLES, single_threaded_blas

    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"


def test_keeping_freed_memory_changes_no_answer(tmp_path) -> None:
    # the allocator setting of one-shot processes, applied in a child: same analysis
    import platform
    import subprocess
    import sys

    path = tmp_path / "sphere.stl"
    path.write_bytes(trimesh.exchange.stl.export_stl(trimesh.creation.icosphere(subdivisions=3)))
    probe = (
        "import json, sys\n"
        "from designs.oneshot import keep_freed_memory\n"
        "applied = keep_freed_memory()\n"
        "from designs.analysis_cli import describe\n"
        f"print(applied, json.dumps(describe(__import__('pathlib').Path({str(path)!r}))))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    applied, data = run.stdout.strip().split(" ", 1)
    # glibc has mallopt and accepts both settings; elsewhere (no mallopt) it is only slower
    assert applied == str(platform.libc_ver()[0] == "glibc")
    from designs.analysis_cli import describe

    assert json.loads(data) == describe(path)
