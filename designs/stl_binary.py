"""Read a binary STL straight into merged numpy arrays, without trimesh.

Why: analysing a 1.3-million-face STL through `trimesh.load` took 9.6x admesh's time and
8.6x its memory (../shared/TARGETS.md): trimesh imports for a second, keeps several float64
copies of every corner and builds hash tables and caches it does not need for a check. This
path reads the 50-byte records in chunks, keeps the corners as float32 (the file's own
precision), merges equal vertices with one 64-bit sort, and hands plain arrays to
`designs.meshstats`.

Same answer as trimesh: vertices are merged exactly as `trimesh.grouping.merge_vertices`
does, by rounding each coordinate to 1e-8 (`MERGE_DIGITS` decimal digits) and comparing the
integers; so -0.0 meets 0.0 and CAD noise such as 1e-17 meets 0. The three rounded
integers of a vertex are hashed into one uint64 and argsorted (one sort instead of a
three-column lexsort); a second, independent hash guards against collisions (see `_merge`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designs.errors import EmptyMeshError, NotAMeshError, TruncatedMeshError

__all__ = ["MERGE_DIGITS", "IndexedMesh", "read_binary_stl"]

log = logging.getLogger(__name__)

#: Coordinates equal to this many decimal digits (in the file's unit) are one vertex; the
#: value trimesh derives from its `tol.merge` (1e-8).
MERGE_DIGITS = 8

#: Receives each block of triangles while it is read: (k, 3, 3) float32.
TriangleSink = Callable[[np.ndarray], None]

_HEADER_BYTES = 84
_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
_CHUNK_FACES = 1 << 16  # 3.2 MB of records per read
# splitmix64's finaliser constants: each step spreads every input bit over the whole word,
# so symmetric coordinates (x, y, z) and (-x, y, -z) do not cancel as with a plain XOR of
# products; collisions are still checked for, never trusted away
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))
# `_group_packed` is tried while its birthday bound stays below this; a collision it finds
# costs one more sort (`_group_argsort`), not a wrong answer
_PACKED_COLLISION_RISK = 0.25
_SEED = np.uint64(0x9E3779B97F4A7C15)  # golden ratio digits
# odd weights (pi, e and sqrt(2) digits) for the check hash
_WEIGHTS = (np.uint64(0x243F6A8885A308D3), np.uint64(0xB7E151628AED2A6B), np.uint64(0x6A09E667F3BCC909))


@dataclass(frozen=True, slots=True)
class IndexedMesh:
    """A merged triangle mesh as plain arrays.

    vertices: (n, 3) float64, the file's coordinates (first occurrence of each merged vertex).
    faces: (m, 3) int32 or int64, indices into vertices, in the file's face order.
    """

    vertices: np.ndarray
    faces: np.ndarray


def _rounded(corners: np.ndarray) -> np.ndarray:
    """(k, 3) float -> (k, 3) int64: coordinates rounded to MERGE_DIGITS decimals."""
    with np.errstate(invalid="ignore", over="ignore"):  # absurd coordinates: garbage in, no crash
        return np.rint(corners.astype(np.float64) * 10.0**MERGE_DIGITS).astype(np.int64)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a (k,) uint64 array (wrapping arithmetic)."""
    h ^= h >> _SHIFTS[0]
    h *= _MIX_1
    h ^= h >> _SHIFTS[1]
    h *= _MIX_2
    h ^= h >> _SHIFTS[2]
    return h


def _row_hash(keys: np.ndarray) -> np.ndarray:
    """(k, 3) int64 -> (k,) uint64: the columns chained through a strong 64-bit mix."""
    as_unsigned = keys.view(np.uint64)
    h = as_unsigned[:, 0] ^ _SEED
    _mix(h)
    h ^= as_unsigned[:, 1]
    _mix(h)
    h ^= as_unsigned[:, 2]
    return _mix(h)


def _check_hash(keys: np.ndarray) -> np.ndarray:
    """(k, 3) int64 -> (k,) uint64: a second hash built differently from `_row_hash` (a
    weighted sum), so a pair of vertices that collides in one almost surely differs in the
    other."""
    as_unsigned = keys.view(np.uint64)
    h = as_unsigned[:, 0] * _WEIGHTS[0]
    h += as_unsigned[:, 1] * _WEIGHTS[1]
    h += as_unsigned[:, 2] * _WEIGHTS[2]
    return h


def _read_corners(path: Path, on_triangles: TriangleSink | None = None) -> np.ndarray:
    """All triangle corners of the binary STL at `path`: (3m, 3) float32.

    on_triangles: called with each block of (k, 3, 3) float32 triangles as it is read.

    Raises TruncatedMeshError / NotAMeshError when the size does not match the declared
    triangle count, EmptyMeshError for 0 triangles, NotAMeshError for NaN/inf coordinates.
    """
    with Path(path).open("rb") as f:
        header = f.read(_HEADER_BYTES)
        size = os.fstat(f.fileno()).st_size
        if len(header) < _HEADER_BYTES:
            raise TruncatedMeshError(
                f"the file has {size:,} bytes, less than the 84-byte header of a binary STL: "
                "it is truncated"
            )
        declared = int.from_bytes(header[80:84], "little")
        expected = _HEADER_BYTES + _RECORD.itemsize * declared
        if expected != size:
            error = TruncatedMeshError if expected > size else NotAMeshError
            raise error(
                f"binary STL declares {declared:,} triangles ({expected:,} bytes) but the file "
                f"has {size:,} bytes"
            )
        if declared == 0:
            raise EmptyMeshError("the binary STL file holds no triangles")
        corners = np.empty((declared * 3, 3), dtype=np.float32)
        for start in range(0, declared, _CHUNK_FACES):
            count = min(_CHUNK_FACES, declared - start)
            records = np.fromfile(f, dtype=_RECORD, count=count)
            if len(records) != count:  # the file shrank while we read it
                raise TruncatedMeshError("the binary STL ended before its declared triangles")
            block = records["corners"].reshape(-1, 3)
            if not np.isfinite(block).all():
                raise NotAMeshError(
                    "the binary STL file has vertices with invalid coordinates (NaN or infinity)"
                )
            corners[start * 3 : (start + count) * 3] = block
            if on_triangles is not None:
                on_triangles(corners[start * 3 : (start + count) * 3].reshape(-1, 3, 3))
    return corners


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """(k,) sorted -> (k,) bool, True where a new value starts."""
    starts = np.empty(len(values), dtype=bool)
    starts[:1] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    return starts


def _merge(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge equal corners. corners: (k, 3) float. Returns (representative corner index per
    vertex (n,) int64, vertex index per corner (k,) int64).

    Equal vertices are grouped by sorting a 64-bit hash of their rounded coordinates. A
    collision (two different vertices, one hash) would make the hash count fewer distinct
    values than the truth; a second hash built differently counts them again, and the two
    counts must agree, so a wrong merge needs both to collide in one file. Counting by a
    plain sort is used because gathering the second hash into the first one's order costs
    more on large meshes. Row-wise work runs in cache-sized chunks: whole-array float64
    temporaries cost more in page faults than the arithmetic itself.
    """
    count = len(corners)
    primary = np.empty(count, dtype=np.uint64)
    check = np.empty(count, dtype=np.uint64)
    step = _CHUNK_FACES * 3
    for start in range(0, count, step):
        keys = _rounded(corners[start : start + step])
        primary[start : start + step] = _row_hash(keys)
        check[start : start + step] = _check_hash(keys)
    check.sort()
    distinct = int(np.count_nonzero(_distinct_sorted(check)))
    del check
    grouped = _group_packed(primary, distinct)
    if grouped is None:
        grouped = _group_argsort(primary, distinct)
    if grouped is None:
        log.warning("vertex hash collision; merging by exact row sort instead")
        return _merge_exact(corners)
    order, new_group = grouped
    del primary
    group = np.cumsum(new_group, dtype=np.int64)
    group -= 1
    inverse = np.empty(count, dtype=np.int64)
    inverse[order] = group
    del group
    # the first occurrence represents each vertex, as in trimesh (keep_order)
    representative = np.minimum.reduceat(order, np.flatnonzero(new_group))
    return representative, inverse


def _group_packed(hashes: np.ndarray, distinct: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Group equal hashes with one plain sort: the top bits of each hash and the corner's
    index share one uint64, so sorting it yields the permutation too (numpy's vectorised
    sort is ~5x faster than its argsort here). Returns (order (k,) int64, group starts (k,)
    bool in sorted order), or None when the truncated hash merged vertices the check hash
    tells apart, or when the index leaves too few hash bits for it to be worth trying."""
    count = len(hashes)
    index_bits = max(1, (count - 1).bit_length())
    hash_bits = 64 - index_bits
    # chance of any collision among `distinct` values in hash_bits bits (birthday bound)
    if distinct * distinct / 2.0 ** (hash_bits + 1) > _PACKED_COLLISION_RISK:
        return None
    packed = hashes >> np.uint64(index_bits) << np.uint64(index_bits)
    packed |= np.arange(count, dtype=np.uint64)
    packed.sort()
    new_group = _distinct_sorted(packed >> np.uint64(index_bits))
    if int(np.count_nonzero(new_group)) != distinct:
        log.debug("truncated vertex hash collided; grouping by the full hash")
        return None
    packed &= np.uint64((1 << index_bits) - 1)
    return packed.view(np.int64), new_group


def _group_argsort(hashes: np.ndarray, distinct: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Group by the full 64-bit hash with an argsort; None if it still collides."""
    order = np.argsort(hashes)
    new_group = _distinct_sorted(np.sort(hashes))  # sorting again beats gathering
    if int(np.count_nonzero(new_group)) != distinct:
        return None
    return order, new_group


def _merge_exact(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slow, collision-free merge: unique rows of the rounded coordinates."""
    _rows, first, inverse = np.unique(
        _rounded(corners), axis=0, return_index=True, return_inverse=True
    )
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def read_binary_stl(path: Path, on_triangles: TriangleSink | None = None) -> IndexedMesh:
    """Read and merge the binary STL at `path` (the caller has sniffed it as binary STL).

    on_triangles: called with each block of (k, 3, 3) float32 triangles, in file order,
    while it is still in cache (e.g. `meshstats.SurfaceAccumulator.add`).
    Raises the DesignFileError subclasses of `_read_corners`.
    """
    corners = _read_corners(path, on_triangles)
    representative, inverse = _merge(corners)
    vertices = corners[representative].astype(np.float64)
    del corners, representative
    index_type = np.int32 if len(vertices) < np.iinfo(np.int32).max else np.int64
    faces = inverse.astype(index_type).reshape(-1, 3)
    return IndexedMesh(vertices=vertices, faces=faces)
