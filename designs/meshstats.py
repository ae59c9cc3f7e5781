"""Pure numpy measures of an indexed triangle mesh: edges, areas, volume, bodies, overhangs.

Why a module of its own: the same numbers must come out whether a mesh was loaded by trimesh
(`analysis.analyze_trimesh`) or by the vectorised binary-STL reader (`stl_binary`), so both
paths call these functions on plain arrays. Nothing here imports trimesh (importing it costs
about a second, more than analysing a large STL), and every pass over faces runs in chunks so
a million-face mesh never needs more than a few tens of MB of temporaries.

Conventions: `vertices` is (n, 3) float64 in mm, `faces` is (m, 3) int (indices into
vertices). Edge definitions follow trimesh's so both paths agree: an undirected edge is a
sorted vertex pair; "watertight" means every such edge is used by exactly two faces;
"winding consistent" means every edge used by exactly two faces is used once in each
direction (edges used once or more than twice are not judged).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BED_TOLERANCE_MM",
    "DEGENERATE_FACE_AREA_MM2",
    "OVERHANG_ANGLE_DEG",
    "EdgeTopology",
    "SurfaceAccumulator",
    "SurfaceStats",
    "body_count",
    "edge_topology",
    "surface_stats",
]

log = logging.getLogger(__name__)

#: A face with less area than this is degenerate (zero-area: collinear or repeated vertices).
#: The test corpus's MANIFEST counts `zero_area_faces` with the same threshold (docs/corpus.md).
DEGENERATE_FACE_AREA_MM2 = 1e-12
#: A downward-facing surface tilted further than this from vertical is an overhang that an
#: FDM printer cannot build without supports (the usual 45° rule).
OVERHANG_ANGLE_DEG = 45.0
#: Faces whose three vertices lie within this height of the lowest point rest on the bed:
#: they face down but need no support.
BED_TOLERANCE_MM = 0.01

# union-find rounds before falling back to scipy (random labels need ~10)
_MAX_UNION_ROUNDS = 64
# faces per chunk in the passes over faces: (chunk, 3, 3) float64 temporaries of ~1.2 MB,
# (chunk * 3,) int64 ones of 0.4 MB, reused from the allocator's heap instead of fresh
# page-faulted memory and small enough to stay in a core's L2 cache between steps
_CHUNK_FACES = 1 << 14


@dataclass(frozen=True, slots=True)
class EdgeTopology:
    """Counts over undirected edges (sorted vertex pairs), as trimesh defines them.

    boundary_edges: edges used by exactly one face (the rims of holes).
    nonmanifold_edges: edges used by more than two faces.
    watertight: every edge is used by exactly two faces (False for a mesh without faces).
    winding_consistent: every edge used by exactly two faces is used once in each direction.
    """

    boundary_edges: int
    nonmanifold_edges: int
    watertight: bool
    winding_consistent: bool


def _edge_keys(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """One int64 key per face edge, (3m,): `(min * n + max) * 2 + (first > second)`.

    faces: (m, 3) int, n_vertices < 2**31. The edges of a face are (f0, f1), (f1, f2),
    (f2, f0). Sorting these keys puts all uses of an undirected edge side by side (the key
    without its lowest bit), with the direction in that bit: one sort of one int64 per
    edge answers both watertightness and winding (several times faster than sorting (3m, 2)
    rows, and half the work of sorting undirected and directed keys separately). Only the
    sorted order matters, so the keys are laid out edge slot by edge slot (all (f0, f1)
    first), which keeps every step on contiguous columns.
    """
    n = np.int64(n_vertices)
    m = len(faces)
    keys = np.empty(3 * m, dtype=np.int64)
    for start in range(0, m, _CHUNK_FACES):
        block = faces[start : start + _CHUNK_FACES]
        k = len(block)
        for slot in range(3):
            first = block[:, slot].astype(np.int64)
            second = block[:, (slot + 1) % 3].astype(np.int64)
            backwards = first > second
            low = np.minimum(first, second)
            np.maximum(first, second, out=second)
            low *= n
            low += second
            low <<= 1
            low += backwards
            keys[slot * m + start : slot * m + start + k] = low
    return keys


def _neighbours_alike(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair of neighbours i, i + 1 of the sorted edge keys: (same edge, same edge
    in the same direction), (k - 1,) bool each. Built in chunks so the only temporaries
    are small."""
    count = max(len(sorted_keys) - 1, 0)
    same_edge = np.empty(count, dtype=bool)
    same_way = np.empty(count, dtype=bool)
    step = _CHUNK_FACES * 3
    for start in range(0, count, step):
        stop = min(start + step, count)
        later, earlier = sorted_keys[start + 1 : stop + 1], sorted_keys[start:stop]
        np.equal(later, earlier, out=same_way[start:stop])
        np.less(later ^ earlier, 2, out=same_edge[start:stop])  # differ in the direction bit at most
    return same_edge, same_way


def edge_topology(faces: np.ndarray, n_vertices: int) -> EdgeTopology:
    """Boundary and non-manifold edge counts, watertightness and winding consistency.

    faces: (m, 3) int, indices below n_vertices.
    After one sort of `_edge_keys`, each undirected edge is a run of neighbours; its length
    is the number of faces using it. A run of two whose keys are equal is an edge used
    twice in the *same* direction: a winding inconsistency (trimesh ignores edges used once
    or more than twice). Degenerate edges (u, u) read the same both ways and are never
    counted as inconsistent. Only (3m,) bool arrays are built besides the keys.
    """
    faces = np.asarray(faces)
    if len(faces) == 0:
        return EdgeTopology(0, 0, False, False)
    keys = _edge_keys(faces, n_vertices)
    keys.sort()
    same_edge, same_way = _neighbours_alike(keys)
    # cut[i]: a run starts at i (and one ends at i - 1); a cut before the first and after
    # the last key, so every run of length r is cut, r - 1 times not cut, then cut
    cut = np.ones(len(keys) + 1, dtype=bool)
    np.logical_not(same_edge, out=cut[1:-1])
    del same_edge
    starts, second, third = cut[:-2], cut[1:-1], cut[2:]  # (k - 1,) views
    boundary = int(np.count_nonzero(cut[:-1] & cut[1:]))  # runs of one
    nonmanifold = int(np.count_nonzero(starts & ~second & ~third))  # runs of three or more
    twice_one_way = starts & ~second & third  # runs of exactly two ...
    twice_one_way &= same_way  # ... whose two uses run the same way
    winding_consistent = True
    suspects = np.flatnonzero(twice_one_way)
    if len(suspects):
        u, v = np.divmod(keys[suspects] >> 1, np.int64(n_vertices))
        winding_consistent = not bool((u != v).any())
    watertight = boundary == 0 and nonmanifold == 0
    return EdgeTopology(boundary, nonmanifold, watertight, winding_consistent)


@dataclass(frozen=True, slots=True)
class SurfaceStats:
    """Sums over faces. Lengths in mm.

    area: total surface area, mm².
    signed_volume: sum of signed tetrahedra, mm³; meaningful only for a closed, consistently
      wound mesh; negative when the faces point inward.
    degenerate_faces: faces with area below DEGENERATE_FACE_AREA_MM2 or a repeated vertex.
    overhang_area: area of faces whose normal points down more steeply than
      OVERHANG_ANGLE_DEG from vertical allows, not counting faces resting on the bed, mm².
    """

    area: float
    signed_volume: float
    degenerate_faces: int
    overhang_area: float

    @property
    def overhang_fraction(self) -> float:
        """overhang_area / area, 0.0 for a mesh without area."""
        return self.overhang_area / self.area if self.area > 0 else 0.0


class SurfaceAccumulator:
    """Collects `SurfaceStats` from triangles fed in chunks, in face order.

    Why chunks: the binary-STL reader feeds each block of records while it is still in
    cache, and nobody has to hold a (m, 3, 3) float64 array of all triangles. The signed
    volume sums tetrahedra against the first vertex seen rather than the origin: the same
    value for a closed mesh, without the cancellation error of a part modelled far from
    the origin. Overhangs are decided at the end, once the bed height (lowest Z) is known.
    """

    def __init__(self) -> None:
        self._origin: np.ndarray | None = None
        self._area = 0.0
        self._volume6 = 0.0
        self._min_z = math.inf
        self._tiny: list[np.ndarray] = []
        self._down_area: list[np.ndarray] = []
        self._down_top: list[np.ndarray] = []
        # a face overhangs when its unit normal's Z is below -sin(angle from vertical)
        self._overhang_nz = -math.sin(math.radians(OVERHANG_ANGLE_DEG))

    def add(self, triangles: np.ndarray) -> None:
        """triangles: (k, 3, 3) float, corner coordinates in mm, Z up."""
        # (3 corners, 3 axes, k) contiguous float64: every operation below then runs on
        # contiguous (k,) rows, several times faster than on strided (k, 3) columns
        self.add_corners(np.ascontiguousarray(np.asarray(triangles).transpose(1, 2, 0), dtype=np.float64))

    def add_corners(self, c: np.ndarray) -> None:
        """c: (3 corners, 3 axes, k) float64, c[corner, axis] a contiguous (k,) row: the
        layout `add` converts to, for a reader that has built it already."""
        if c.shape[2] == 0:
            return
        if self._origin is None:
            self._origin = c[0, :, 0].copy()
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = c
        abx, aby, abz = x1 - x0, y1 - y0, z1 - z0
        acx, acy, acz = x2 - x0, y2 - y0, z2 - z0
        cx = aby * acz - abz * acy  # (k,) each: the normal times twice the area
        cy = abz * acx - abx * acz
        cz = abx * acy - aby * acx
        double_area = np.sqrt(cx * cx + cy * cy + cz * cz)
        face_area = double_area * 0.5
        self._area += float(face_area.sum())
        ox, oy, oz = self._origin
        # no `@` here: BLAS's threaded dot products cost more in thread hand-offs than the
        # multiplications themselves at this size
        triple = (x0 - ox) * cx
        triple += (y0 - oy) * cy
        triple += (z0 - oz) * cz
        self._volume6 += float(triple.sum())
        self._tiny.append(face_area < DEGENERATE_FACE_AREA_MM2)
        low_z = np.minimum(np.minimum(z0, z1), z2)
        self._min_z = min(self._min_z, float(low_z.min()))
        with np.errstate(invalid="ignore", divide="ignore"):
            down = cz < self._overhang_nz * double_area  # NaN never compares True
        self._down_area.append(face_area[down])
        self._down_top.append(np.maximum(np.maximum(z0[down], z1[down]), z2[down]))

    def result(self, faces: np.ndarray | None = None) -> SurfaceStats:
        """The sums so far. faces: (m, 3) int, the same faces in the same order, so that a
        face whose corners merged into one vertex counts as degenerate whatever its float
        area; None when the triangles were fed from merged vertices already."""
        tiny = np.concatenate(self._tiny) if self._tiny else np.zeros(0, dtype=bool)
        if faces is not None and len(faces):
            faces = np.asarray(faces)
            tiny = tiny | (faces[:, 0] == faces[:, 1])
            tiny |= faces[:, 1] == faces[:, 2]
            tiny |= faces[:, 0] == faces[:, 2]
        overhang = 0.0
        if self._down_area:
            down_area = np.concatenate(self._down_area)
            down_top = np.concatenate(self._down_top)
            overhang = float(down_area[down_top > self._min_z + BED_TOLERANCE_MM].sum())
        return SurfaceStats(
            area=self._area,
            signed_volume=self._volume6 / 6.0,
            degenerate_faces=int(np.count_nonzero(tiny)),
            overhang_area=overhang,
        )


def surface_stats(vertices: np.ndarray, faces: np.ndarray) -> SurfaceStats:
    """Area, signed volume, degenerate faces and overhang area of an indexed mesh.

    vertices: (n, 3) float, mm, Z up (the designed orientation is the printing one).
    faces: (m, 3) int.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    accumulator = SurfaceAccumulator()
    for start in range(0, len(faces), _CHUNK_FACES):
        accumulator.add(vertices[faces[start : start + _CHUNK_FACES]])
    return accumulator.result(faces)


def _compress(parent: np.ndarray) -> np.ndarray:
    """Pointer jumping: point every vertex at its tree's root. parent: (n,) int; reused as
    one of the two buffers the jumps alternate between."""
    grand = np.empty_like(parent)
    while True:
        np.take(parent, parent, out=grand)
        if np.array_equal(grand, parent):
            return parent
        parent, grand = grand, parent


def body_count(faces: np.ndarray, n_vertices: int) -> int:
    """Number of vertex-connected groups of faces (trimesh's `body_count`).

    faces: (m, 3) int. A vectorised union-find instead of scipy's connected_components:
    importing scipy.sparse alone costs about as much as the whole search. Each round, every
    face whose three vertices are not yet in one tree lowers the parent of each of their
    roots to the smallest of the three (`np.minimum.at`, so concurrent hooks keep the
    smallest), then pointer jumping flattens the trees. Parents only ever point to smaller
    labels, so no cycle can form, and every round with work left removes at least one root.
    With vertices numbered by first appearance (`stl_binary`) neighbouring faces share
    small labels and a 1.3 M-face sphere settles in 2 rounds; random labels take ~8. A mesh
    that needs more than `_MAX_UNION_ROUNDS` falls back to scipy. Vertices no face uses are
    not counted.
    """
    faces = np.asarray(faces)
    if len(faces) == 0:
        return 0
    parent = np.arange(n_vertices, dtype=faces.dtype)
    a, b, c = (np.ascontiguousarray(faces[:, corner]) for corner in range(3))
    first_corners = a
    for _round in range(_MAX_UNION_ROUNDS):
        # in the first round every vertex is its own root (no gather needed) and nearly
        # every face has work (no need to look)
        ra, rb, rc = (a, b, c) if _round == 0 else (parent[a], parent[b], parent[c])
        low = np.minimum(np.minimum(ra, rb), rc)
        if _round:
            pending = (ra != low) | (rb != low) | (rc != low)
            if not pending.any():
                break
            keep = np.flatnonzero(pending)
            if len(keep) < 0.9 * len(pending):  # shrink once it pays; one index for all seven
                a, b, c, ra, rb, rc, low = (x.take(keep) for x in (a, b, c, ra, rb, rc, low))
        for roots in (ra, rb, rc):
            np.minimum.at(parent, roots, low)
        parent = _compress(parent)
    else:
        log.info("union-find did not settle in %d rounds; using scipy", _MAX_UNION_ROUNDS)
        return _body_count_scipy(faces, n_vertices)
    # settled and flattened: a face's three vertices share one root, so one corner per face
    # finds every body's root (and only those of bodies, not of unused vertices)
    roots = np.zeros(n_vertices, dtype=bool)
    roots[parent[first_corners]] = True
    return int(np.count_nonzero(roots))


def _body_count_scipy(faces: np.ndarray, n_vertices: int) -> int:
    """The same count with scipy's connected_components (slower to import, no round cap)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate((faces[:, 0], faces[:, 1]))
    cols = np.concatenate((faces[:, 1], faces[:, 2]))
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_vertices, n_vertices)).tocsr()
    _count, labels = connected_components(graph, directed=False)
    used = np.zeros(n_vertices, dtype=bool)
    used[faces.reshape(-1)] = True
    return int(np.count_nonzero(np.bincount(labels[used])))
