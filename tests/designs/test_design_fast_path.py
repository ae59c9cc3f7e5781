"""The vectorised binary-STL path (designs.stl_binary + meshstats) against the trimesh path
(load_mesh + analyze_trimesh): same numbers on generated meshes, random meshes and the
corpus's binary STLs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designs import MeshAnalysis, MeshFormat, analyze_mesh, analyze_trimesh, load_mesh, stl_binary
from designs.errors import EmptyMeshError, NotAMeshError, TruncatedMeshError
from designs.stl_binary import read_binary_stl
from tests.corpus import CORPUS

EXACT = (
    "faces",
    "vertices",
    "watertight",
    "winding_consistent",
    "bodies",
    "degenerate_faces",
    "boundary_edges",
    "nonmanifold_edges",
    "verdict",
)


def both_paths(path: Path) -> tuple[MeshAnalysis, MeshAnalysis]:
    fast = analyze_mesh(path, MeshFormat.STL_BINARY)
    slow = analyze_trimesh(load_mesh(path, MeshFormat.STL_BINARY), MeshFormat.STL_BINARY)
    return fast, slow


def assert_same(fast: MeshAnalysis, slow: MeshAnalysis) -> None:
    for field in EXACT:
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.bbox_min == pytest.approx(slow.bbox_min, rel=1e-9, abs=1e-9)
    assert fast.bbox_extents == pytest.approx(slow.bbox_extents, rel=1e-9, abs=1e-9)
    assert fast.surface_area == pytest.approx(slow.surface_area, rel=1e-6, abs=1e-9)
    if slow.volume is None:
        assert fast.volume is None
    else:
        assert fast.volume == pytest.approx(slow.volume, rel=1e-6, abs=1e-9)
    assert fast.overhang_fraction == pytest.approx(slow.overhang_fraction, abs=1e-9)
    assert fast.units_hint == slow.units_hint
    assert fast.reasons == slow.reasons


def write_stl(tmp_path: Path, mesh: trimesh.Trimesh, name: str = "part") -> Path:
    path = tmp_path / name
    path.write_bytes(trimesh.exchange.stl.export_stl(mesh))
    return path


def _two_bodies() -> trimesh.Trimesh:
    a = trimesh.creation.box(extents=(10, 10, 10))
    b = trimesh.creation.icosphere(subdivisions=2, radius=5)
    b.apply_translation((30, 0, 0))
    return trimesh.util.concatenate([a, b])


def _open_box() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(20, 20, 20))
    return trimesh.Trimesh(box.vertices, box.faces[:-1], process=False)


def _flipped_face() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(20, 20, 20))
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]
    return trimesh.Trimesh(box.vertices, faces, process=False)


def _inside_out() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(20, 20, 20))
    return trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False)


def _tiny_noise() -> trimesh.Trimesh:
    # CAD noise around zero (1e-17, -0.0): trimesh merges it by rounding; so must we
    box = trimesh.creation.box(extents=(2, 2, 2))
    triangles = box.triangles.copy()
    triangles[np.isclose(triangles, 0)] = 0.0
    triangles[0, 0] += [1e-17, -0.0, 0.0]
    return trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles), process=False)


def _far_away() -> trimesh.Trimesh:
    part = trimesh.creation.icosphere(subdivisions=3, radius=20)
    part.apply_translation((5000.0, -3000.0, 250.0))
    return part


def _fin() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(20, 20, 20))
    a, b = box.faces[0][:2]
    vertices = np.vstack((box.vertices, [[40.0, 40.0, 40.0]]))
    return trimesh.Trimesh(vertices, np.vstack((box.faces, [[a, b, len(box.vertices)]])), process=False)


GENERATED = {
    "box": lambda: trimesh.creation.box(extents=(20, 30, 40)),
    "icosphere": lambda: trimesh.creation.icosphere(subdivisions=4, radius=15),
    "two_bodies": _two_bodies,
    "open_box": _open_box,
    "flipped_face": _flipped_face,
    "inside_out": _inside_out,
    "tiny_noise": _tiny_noise,
    "far_away": _far_away,
    "fin": _fin,
    "torus": lambda: trimesh.creation.torus(major_radius=20, minor_radius=5),
    "tiny_part": lambda: trimesh.creation.box(extents=(0.05, 0.05, 0.05)),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_meshes_agree(tmp_path: Path, name: str) -> None:
    fast, slow = both_paths(write_stl(tmp_path, GENERATED[name]()))
    assert_same(fast, slow)


def test_known_defects_show_in_the_fast_path(tmp_path: Path) -> None:
    assert analyze_mesh(write_stl(tmp_path, _open_box(), "a")).boundary_edges == 3
    assert analyze_mesh(write_stl(tmp_path, _fin(), "b")).nonmanifold_edges == 1
    flipped = analyze_mesh(write_stl(tmp_path, _flipped_face(), "c"))
    assert flipped.watertight and not flipped.winding_consistent and flipped.volume is None
    inside_out = analyze_mesh(write_stl(tmp_path, _inside_out(), "d"))
    assert inside_out.volume == pytest.approx(8000.0)
    assert any("inside-out" in reason for reason in inside_out.reasons)
    tiny = analyze_mesh(write_stl(tmp_path, GENERATED["tiny_part"](), "e"))
    assert tiny.units_suspicious and "metres" in (tiny.units_hint or "")


def _corpus_binary_stls() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix.lower() == ".stl" and path.stat().st_size >= 84:
            head = path.read_bytes()[:84]
            if 84 + 50 * int.from_bytes(head[80:84], "little") == path.stat().st_size:
                found.append(path)
    return found


CORPUS_STLS = _corpus_binary_stls()


@pytest.mark.skipif(not CORPUS_STLS, reason=f"test corpus not found at {CORPUS} (set COFAB_CORPUS)")
@pytest.mark.parametrize("path", CORPUS_STLS, ids=lambda p: p.name)
def test_corpus_binary_stls_agree(path: Path) -> None:
    assert_same(*both_paths(path))


@st.composite
def messy_meshes(draw) -> trimesh.Trimesh:
    """Icosphere pieces with faces dropped, flipped and duplicated, second bodies, collapsed
    vertices, on a coarse grid so coincident vertices are common."""
    sphere = trimesh.creation.icosphere(
        subdivisions=draw(st.integers(0, 2)), radius=draw(st.sampled_from([0.5, 10.0, 300.0]))
    )
    faces = sphere.faces.copy()
    count = len(faces)
    keep = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    flip = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    faces[np.array(flip)] = faces[np.array(flip)][:, ::-1]
    faces = faces[np.array(keep)] if any(keep) else faces[:1]
    extra = draw(st.integers(0, 3))
    if extra:
        faces = np.vstack((faces, faces[:extra]))  # duplicates: non-manifold edges
    vertices = sphere.vertices.copy()
    if draw(st.booleans()):
        vertices[1] = vertices[0]  # collapse one edge: degenerate faces
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if draw(st.booleans()):
        other = mesh.copy()
        other.apply_translation((draw(st.sampled_from([0.0, 1.0, 700.0])), 0.0, 0.0))
        mesh = trimesh.util.concatenate([mesh, other])
    return mesh


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mesh=messy_meshes())
def test_random_meshes_agree(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    path = write_stl(tmp_path, mesh, "random")
    assert_same(*both_paths(path))


def test_merge_survives_hash_collisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_stl(tmp_path, GENERATED["two_bodies"]())
    expected = analyze_mesh(path)
    # every vertex hashes alike: the check hash disagrees, and the exact row sort takes over
    monkeypatch.setattr(stl_binary, "_row_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    assert_same(analyze_mesh(path), expected)


def test_merge_without_the_packed_sort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_stl(tmp_path, GENERATED["icosphere"]())
    expected = analyze_mesh(path)
    monkeypatch.setattr(stl_binary, "_PACKED_COLLISION_RISK", -1.0)
    assert_same(analyze_mesh(path), expected)


def test_reader_keeps_face_order_and_first_vertices(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(20, 20, 20))
    indexed = read_binary_stl(write_stl(tmp_path, box))
    assert indexed.faces.shape == (12, 3)
    np.testing.assert_allclose(indexed.vertices[indexed.faces], box.triangles, atol=1e-6)


def test_reader_refuses_bad_files(tmp_path: Path) -> None:
    good = trimesh.exchange.stl.export_stl(trimesh.creation.box())
    cut = tmp_path / "cut"
    cut.write_bytes(good[:-10])
    with pytest.raises(TruncatedMeshError):
        read_binary_stl(cut)
    empty = tmp_path / "empty"
    empty.write_bytes(good[:80] + b"\x00\x00\x00\x00")
    with pytest.raises(EmptyMeshError):
        read_binary_stl(empty)
    nan = bytearray(good)
    nan[84 + 12 : 84 + 16] = np.float32("nan").tobytes()
    bad = tmp_path / "nan"
    bad.write_bytes(bytes(nan))
    with pytest.raises(NotAMeshError, match="NaN"):
        read_binary_stl(bad)


def _force_argsort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stl_binary, "_PACKED_COLLISION_RISK", -1.0)


def _force_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stl_binary, "_row_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))


@pytest.mark.parametrize("force", [None, _force_argsort, _force_exact], ids=["packed", "argsort", "exact"])
def test_vertices_are_numbered_by_first_appearance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force) -> None:
    # every merge path numbers vertices in the order the file first uses them (what lets
    # the union-find in meshstats.body_count settle in a few rounds)
    if force is not None:
        force(monkeypatch)
    mesh = GENERATED["two_bodies"]()
    indexed = read_binary_stl(write_stl(tmp_path, mesh))
    flat = indexed.faces.reshape(-1)
    _values, first_use = np.unique(flat, return_index=True)
    assert np.array_equal(np.argsort(first_use), np.arange(len(indexed.vertices)))
    np.testing.assert_allclose(indexed.vertices[indexed.faces], mesh.triangles, atol=1e-6)
    assert len(indexed.vertices) == len(mesh.vertices)


@pytest.mark.parametrize("name", ["two_bodies", "fin", "flipped_face", "open_box"])
def test_small_blocks_give_the_same_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # blocks of a few faces: every block boundary in the reader, the merge and the edge
    # runs is crossed many times
    from designs import meshstats

    path = write_stl(tmp_path, GENERATED[name]())
    expected = analyze_mesh(path)
    monkeypatch.setattr(stl_binary, "_CHUNK_FACES", 5)
    monkeypatch.setattr(meshstats, "_CHUNK_FACES", 3)
    assert_same(analyze_mesh(path), expected)
    assert read_binary_stl(path).vertices.shape == (expected.vertices, 3)


def test_first_appearance_numbering_without_packing(monkeypatch: pytest.MonkeyPatch) -> None:
    # the argsort branch (taken beyond 2**31 corners) numbers groups exactly as the packed sort
    groups = np.random.default_rng(7).integers(0, 50, size=400)
    order = np.argsort(groups, kind="stable")
    new_group = stl_binary._distinct_sorted(groups[order])
    packed = stl_binary._first_appearance_labels(order, new_group)
    monkeypatch.setattr(stl_binary, "_WORD_BITS", 0)
    unpacked = stl_binary._first_appearance_labels(order, new_group)
    assert np.array_equal(packed[0], unpacked[0]) and np.array_equal(packed[1], unpacked[1])
    _values, first_use = np.unique(packed[1], return_index=True)
    assert np.array_equal(np.argsort(first_use), np.arange(len(first_use)))
    assert np.array_equal(packed[0], np.sort(first_use))
