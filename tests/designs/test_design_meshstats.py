"""designs.meshstats on meshes whose true values are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from designs import meshstats
from designs.meshstats import body_count, edge_topology, surface_stats


def _box(extents=(10.0, 10.0, 10.0), at=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(np.asarray(at) + np.asarray(extents) / 2)  # min corner at `at`
    return box


def test_closed_box_topology(box20: trimesh.Trimesh) -> None:
    topo = edge_topology(box20.faces, len(box20.vertices))
    assert topo == meshstats.EdgeTopology(0, 0, True, True)


def test_missing_face_leaves_three_boundary_edges(box20: trimesh.Trimesh) -> None:
    topo = edge_topology(box20.faces[:-1], len(box20.vertices))
    assert topo.boundary_edges == 3
    assert topo.nonmanifold_edges == 0
    assert not topo.watertight
    assert topo.winding_consistent  # the remaining pairs still agree


def test_flipped_face_breaks_winding_only(box20: trimesh.Trimesh) -> None:
    faces = box20.faces.copy()
    faces[3] = faces[3][::-1]
    topo = edge_topology(faces, len(box20.vertices))
    assert topo.watertight and not topo.winding_consistent


def test_extra_fin_makes_nonmanifold_edge(box20: trimesh.Trimesh) -> None:
    # a third face on an existing edge: one edge used 3 times, and 2 new boundary edges
    a, b = box20.faces[0][:2]
    fin_vertex = len(box20.vertices)
    vertices = np.vstack((box20.vertices, [[50.0, 50.0, 50.0]]))
    faces = np.vstack((box20.faces, [[a, b, fin_vertex]]))
    topo = edge_topology(faces, len(vertices))
    assert topo.nonmanifold_edges == 1
    assert topo.boundary_edges == 2
    assert not topo.watertight


def test_degenerate_edges_never_count_as_inconsistent(box20: trimesh.Trimesh) -> None:
    # two collapsed faces (u, u, v) and (u, u, w): the edge (u, u) appears twice one way
    faces = np.vstack((box20.faces, [[0, 0, 1], [0, 0, 2]]))
    assert (
        edge_topology(faces, len(box20.vertices)).winding_consistent
        == trimesh.Trimesh(box20.vertices, faces, process=False).is_winding_consistent
    )


def test_empty_faces() -> None:
    assert edge_topology(np.zeros((0, 3), dtype=int), 0) == meshstats.EdgeTopology(0, 0, False, False)
    assert body_count(np.zeros((0, 3), dtype=int), 0) == 0
    assert surface_stats(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)).area == 0.0


def test_surface_of_box(box20: trimesh.Trimesh) -> None:
    stats = surface_stats(box20.vertices, box20.faces)
    assert stats.area == pytest.approx(2400.0)
    assert stats.signed_volume == pytest.approx(8000.0)
    assert stats.degenerate_faces == 0
    # the only downward face is the bottom, and it rests on the bed
    assert stats.overhang_area == 0.0


def test_inside_out_volume_is_negative(box20: trimesh.Trimesh) -> None:
    assert surface_stats(box20.vertices, box20.faces[:, ::-1]).signed_volume == pytest.approx(-8000.0)


def test_volume_far_from_origin_keeps_precision() -> None:
    box = _box((1.0, 1.0, 1.0), at=(1e6, 1e6, 1e6))
    assert surface_stats(box.vertices, box.faces).signed_volume == pytest.approx(1.0, rel=1e-9)


def test_overhang_of_a_table() -> None:
    # a 10 mm pillar on the bed carrying a 30 x 30 x 2 slab: the slab's underside overhangs
    pillar = _box((10, 10, 10), at=(10, 10, 0))
    slab = _box((30, 30, 2), at=(0, 0, 10))
    table = trimesh.util.concatenate([pillar, slab])
    stats = surface_stats(table.vertices, table.faces)
    assert stats.overhang_area == pytest.approx(900.0)
    assert stats.overhang_fraction == pytest.approx(900.0 / (600 + 1800 + 240))


def test_overhang_of_a_sphere_is_its_lower_cap() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=10.0)
    fraction = surface_stats(sphere.vertices, sphere.faces).overhang_fraction
    cap = (1 - math.sin(math.radians(meshstats.OVERHANG_ANGLE_DEG))) / 2  # zone area / sphere
    assert fraction == pytest.approx(cap, abs=0.01)


def test_slopes_at_exactly_45_degrees_do_not_overhang() -> None:
    # a pyramid standing on its apex: 45° faces are printable; tilt them further and they overhang
    def inverted_pyramid(height: float) -> trimesh.Trimesh:
        vertices = np.array(
            [[0, 0, 0], [-10, -10, height], [10, -10, height], [10, 10, height], [-10, 10, height]], float
        )
        faces = np.array([[0, 2, 1], [0, 3, 2], [0, 4, 3], [0, 1, 4], [1, 2, 3], [1, 3, 4]])
        return trimesh.Trimesh(vertices, faces)

    steep = inverted_pyramid(10.5)  # sides steeper than 45°: fine
    shallow = inverted_pyramid(5.0)  # sides flatter than 45° from horizontal: overhang
    assert surface_stats(steep.vertices, steep.faces).overhang_area == 0.0
    shallow_stats = surface_stats(shallow.vertices, shallow.faces)
    assert shallow_stats.overhang_area == pytest.approx(shallow.area - 400.0)


def test_degenerate_faces_counted(box20: trimesh.Trimesh) -> None:
    vertices = np.vstack((box20.vertices, [[0, 0, 0], [1, 1, 1], [2, 2, 2]]))  # collinear
    n = len(box20.vertices)
    faces = np.vstack((box20.faces, [[n, n + 1, n + 2], [0, 0, 1]]))
    assert surface_stats(vertices, faces).degenerate_faces == 2


@pytest.mark.parametrize("bodies", [1, 2, 7])
def test_body_count_matches_trimesh(bodies: int) -> None:
    parts = []
    for i in range(bodies):
        part = trimesh.creation.icosphere(subdivisions=2, radius=3.0)
        part.apply_translation((i * 10.0, 0, 0))
        parts.append(part)
    mesh = trimesh.util.concatenate(parts)
    # shuffle vertex labels so the union-find sees no helpful order
    perm = np.random.default_rng(bodies).permutation(len(mesh.vertices))
    inverse = np.argsort(perm)
    faces = inverse[mesh.faces]
    assert body_count(faces, len(mesh.vertices)) == bodies == mesh.body_count


def test_bodies_touching_at_a_vertex_are_one() -> None:
    a = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    b = np.array([[0, 0, 0], [-1, 0, 0], [0, -1, 0]], float)
    vertices = np.vstack((a, b[1:]))
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    assert body_count(faces, len(vertices)) == 1


def test_unused_vertices_are_not_bodies() -> None:
    faces = np.array([[0, 1, 2]])
    assert body_count(faces, 10) == 1


def test_union_find_fallback_gives_the_same_count(monkeypatch: pytest.MonkeyPatch) -> None:
    soup = trimesh.creation.icosphere(subdivisions=1)
    faces = np.arange(len(soup.faces) * 3).reshape(-1, 3)  # every face its own body
    monkeypatch.setattr(meshstats, "_MAX_UNION_ROUNDS", 0)
    assert body_count(faces, faces.size) == len(soup.faces)


def _reference_topology(faces: np.ndarray) -> meshstats.EdgeTopology:
    """The definitions spelled out edge by edge, for comparison."""
    uses: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for a, b, c in faces.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            uses.setdefault((min(u, v), max(u, v)), []).append((u, v))
    counts = [len(found) for found in uses.values()]
    consistent = all(found[0] != found[1] or found[0][0] == found[0][1] for found in uses.values() if len(found) == 2)
    return meshstats.EdgeTopology(
        boundary_edges=counts.count(1),
        nonmanifold_edges=sum(1 for c in counts if c > 2),
        watertight=bool(counts) and all(c == 2 for c in counts),
        winding_consistent=consistent,
    )


@settings(max_examples=200, deadline=None)
@given(
    faces=st.lists(st.tuples(*[st.integers(0, 6)] * 3), min_size=1, max_size=40),
    chunk=st.sampled_from([1, 2, 5, 1 << 16]),
)
def test_edge_topology_matches_the_definitions(faces: list[tuple[int, int, int]], chunk: int) -> None:
    # few vertices: repeated, reversed, degenerate and shared edges are all common
    array = np.array(faces, dtype=np.int32)
    original = meshstats._CHUNK_FACES
    meshstats._CHUNK_FACES = chunk
    try:
        found = edge_topology(array, 7)
    finally:
        meshstats._CHUNK_FACES = original
    assert found == _reference_topology(array)
