"""Read a binary STL straight into merged numpy arrays, without trimesh.

Why: analysing a 1.3-million-face STL through `trimesh.load` took 9.6x admesh's time and
8.6x its memory (docs/benchmarks.md): trimesh imports for a second, keeps several float64
copies of every corner and builds hash tables and caches it does not need for a check. This
path reads the 50-byte records in chunks into one reused buffer, keeps only two 64-bit
hashes per corner, merges equal vertices with one 64-bit sort, reads the merged vertices'
coordinates back from the file, and hands plain arrays to `designs.meshstats`. Memory is
time here: on the VMs cofab runs on, first-touching a fresh page costs more than the
arithmetic done on it, so big buffers are reused rather than allocated per step.

Same answer as trimesh: vertices are merged exactly as `trimesh.grouping.merge_vertices`
does, by rounding each coordinate to 1e-8 (`MERGE_DIGITS` decimal digits) and comparing the
integers; so -0.0 meets 0.0 and CAD noise such as 1e-17 meets 0. The three rounded
integers of a vertex are hashed into one uint64 and sorted (one sort instead of a
three-column lexsort); a second, independent hash guards against collisions (see `_merge`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from pathlib import Path

import numpy as np

from designs.errors import EmptyMeshError, NotAMeshError, TruncatedMeshError

__all__ = ["MERGE_DIGITS", "IndexedMesh", "read_binary_stl"]

log = logging.getLogger(__name__)

#: Coordinates equal to this many decimal digits (in the file's unit) are one vertex; the
#: value trimesh derives from its `tol.merge` (1e-8).
MERGE_DIGITS = 8

#: Receives each block of triangles while it is read: (3 corners, 3 axes, k faces) float64,
#: each [corner, axis] row contiguous (`meshstats.SurfaceAccumulator.add_corners`'s layout).
CornerSink = Callable[[np.ndarray], None]

_HEADER_BYTES = 84
_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
# 0.8 MB of records per read: each block's (3, 3, k) float64 and int64 arrays (1.2 MB) and
# the hashing's (3k,) temporaries then stay in a core's L2 cache from step to step; blocks
# 4x larger measured 25 % slower in the hashing pass, 4x smaller no faster
_CHUNK_FACES = 1 << 14
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
# bits two numbers packed into one sort key may use together (uint64, kept below the sign)
_WORD_BITS = 63
# odd weights (pi, e and sqrt(2) digits) for the check hash
_WEIGHTS = (np.uint64(0x243F6A8885A308D3), np.uint64(0xB7E151628AED2A6B), np.uint64(0x6A09E667F3BCC909))


@dataclass(frozen=True, slots=True)
class IndexedMesh:
    """A merged triangle mesh as plain arrays.

    vertices: (n, 3) float64, the file's coordinates (first occurrence of each merged vertex),
      in the order the vertices first appear in the file.
    faces: (m, 3) int32 (int64 beyond 2**31 corners), indices into vertices, in the file's
      face order.
    """

    vertices: np.ndarray
    faces: np.ndarray


def _rounded(corners: np.ndarray, work: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """(..., 3) float -> (..., 3) int64: coordinates rounded to MERGE_DIGITS decimals.

    work, out: optional float64 and int64 buffers of the same shape, reused between chunks
    (fresh temporaries of this size cost more in page faults than the arithmetic)."""
    work = np.empty(corners.shape) if work is None else work
    out = np.empty(corners.shape, dtype=np.int64) if out is None else out
    with np.errstate(invalid="ignore", over="ignore"):  # absurd coordinates: garbage in, no crash
        np.multiply(corners, 10.0**MERGE_DIGITS, out=work, dtype=np.float64)
        return np.rint(work, out=out, casting="unsafe")


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


def _open_checked(f) -> int:
    """Check a binary STL's header against its size; return the declared triangle count.

    Raises TruncatedMeshError / NotAMeshError when the size does not match the declared
    triangle count, EmptyMeshError for 0 triangles."""
    header = f.read(_HEADER_BYTES)
    size = os.fstat(f.fileno()).st_size
    if len(header) < _HEADER_BYTES:
        raise TruncatedMeshError(
            f"the file has {size:,} bytes, less than the 84-byte header of a binary STL: it is truncated"
        )
    declared = int.from_bytes(header[80:84], "little")
    expected = _HEADER_BYTES + _RECORD.itemsize * declared
    if expected != size:
        error = TruncatedMeshError if expected > size else NotAMeshError
        raise error(f"binary STL declares {declared:,} triangles ({expected:,} bytes) but the file has {size:,} bytes")
    if declared == 0:
        raise EmptyMeshError("the binary STL file holds no triangles")
    return declared


@dataclass(frozen=True, slots=True)
class _Hashes:
    """Two hashes of every triangle corner's rounded position, (k,) uint64 each (see
    `_row_hash` and `_check_hash`), in file order: corner i is corner i % 3 of face i // 3."""

    primary: np.ndarray
    check: np.ndarray


class _RecordReader:
    """Reads a checked binary STL's records in blocks into one reused buffer.

    Why one buffer: a fresh array per block costs an allocation and its page faults every
    time; a reused one stays mapped and in cache. A block is valid only until the next read.
    The file must not change while it is read (as for any reader): a shorter file raises
    TruncatedMeshError, and `_gather_corners` re-checks the coordinates it reads back."""

    def __init__(self, f: BufferedIOBase, declared: int) -> None:
        self._f = f
        self.declared = declared
        self._buffer = np.empty(min(_CHUNK_FACES, declared), dtype=_RECORD)
        self._bytes = memoryview(self._buffer).cast("B")  # type: ignore[arg-type]  # numpy stubs: no Buffer

    def blocks(self, first_face: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first face index, (k, 3, 3) float32 corners view) from `first_face` on."""
        self._f.seek(_HEADER_BYTES + _RECORD.itemsize * first_face)
        for start in range(first_face, self.declared, _CHUNK_FACES):
            n = min(_CHUNK_FACES, self.declared - start)
            wanted = n * _RECORD.itemsize
            if self._f.readinto(self._bytes[:wanted]) != wanted:  # the file shrank as we read
                raise TruncatedMeshError("the binary STL ended before its declared triangles")
            yield start, self._buffer["corners"][:n]


def _refuse_non_finite(block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise NotAMeshError("the binary STL file has vertices with invalid coordinates (NaN or infinity)")


def _hash_corners(reader: _RecordReader, on_corners: CornerSink | None = None) -> _Hashes:
    """Hash all triangle corners of a binary STL, in one pass over its records.

    Each block is converted once into float64 arrays laid out axis by axis, (3 axes,
    3 corners, k faces): the bounds check, `on_corners`, the rounding and both hashes then
    all run on contiguous rows, and no other copy of the block is made.
    on_corners: see `CornerSink`; the block is only valid during the call (its buffer is
    reused). Raises like `_open_checked`, and NotAMeshError for NaN or infinite coordinates.
    """
    count = reader.declared * 3
    primary = np.empty(count, dtype=np.uint64)
    check = np.empty(count, dtype=np.uint64)
    size = min(_CHUNK_FACES, reader.declared) * 9
    columns_buffer, scaled_buffer = np.empty(size), np.empty(size)
    keys_buffer = np.empty(size, dtype=np.int64)
    for start, triangles in reader.blocks():
        n = len(triangles)
        columns = columns_buffer[: 9 * n].reshape(3, 3, n)  # contiguous for any n
        np.copyto(columns, triangles.transpose(2, 1, 0))  # [axis, corner, face]
        _refuse_non_finite(columns)
        if on_corners is not None:
            on_corners(columns.transpose(1, 0, 2))
        scaled = scaled_buffer[: 9 * n].reshape(3, 3, n)
        keys = _rounded(columns, scaled, keys_buffer[: 9 * n].reshape(3, 3, n))
        by_corner = keys.reshape(3, 3 * n).T  # (3n, 3) rows, in corner-then-face order
        # hashes come out corner by corner; the file's order is face by face
        in_file_order = slice(start * 3, (start + n) * 3)
        primary[in_file_order].reshape(n, 3)[...] = _row_hash(by_corner).reshape(3, n).T
        check[in_file_order].reshape(n, 3)[...] = _check_hash(by_corner).reshape(3, n).T
    return _Hashes(primary, check)


def _gather_corners(reader: _RecordReader, corners: np.ndarray) -> np.ndarray:
    """The coordinates of the given corners, read again from the file: (n, 3) float64.

    corners: (n,) int, sorted, corner indices (3 * face + corner). Reading the few MB again
    costs less than keeping every corner's coordinates in memory through the merge."""
    out = np.empty((len(corners), 3))
    if len(corners) == 0:
        return out
    faces = corners // 3
    bounds = np.searchsorted(faces, np.arange(0, reader.declared + _CHUNK_FACES, _CHUNK_FACES))
    first_block = int(faces[0]) // _CHUNK_FACES * _CHUNK_FACES
    for start, triangles in reader.blocks(first_block):
        lo, hi = bounds[start // _CHUNK_FACES], bounds[start // _CHUNK_FACES + 1]
        if lo == hi:
            continue
        out[lo:hi] = triangles[faces[lo:hi] - start, corners[lo:hi] - 3 * faces[lo:hi]]
    _refuse_non_finite(out)  # the file changed between the two reads
    return out


def _read_all_corners(reader: _RecordReader) -> np.ndarray:
    """Every corner's coordinates, (k, 3) float32: for the rare exact merge only."""
    corners = np.empty((reader.declared, 3, 3), dtype=np.float32)
    for start, triangles in reader.blocks():
        corners[start : start + len(triangles)] = triangles
    _refuse_non_finite(corners)
    return corners.reshape(-1, 3)


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """(k,) sorted -> (k,) bool, True where a new value starts."""
    starts = np.empty(len(values), dtype=bool)
    starts[:1] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    return starts


def _distinct_sorted_high(values: np.ndarray, low_bits: int) -> np.ndarray:
    """(k,) sorted uint64 -> (k,) bool, True where the value without its `low_bits` lowest
    bits changes; block by block, so no (k,) uint64 temporary is built."""
    starts = np.empty(len(values), dtype=bool)
    starts[:1] = True
    limit = np.uint64(1 << low_bits)
    step = _CHUNK_FACES * 3
    for start in range(1, len(values), step):
        stop = min(start + step, len(values))
        np.greater_equal(values[start:stop] ^ values[start - 1 : stop - 1], limit, out=starts[start:stop])
    return starts


def _merge(hashes: _Hashes, reader: _RecordReader) -> tuple[np.ndarray, np.ndarray]:
    """Merge equal corners (`reader` is for the rare exact merge). Returns (the first
    corner of each vertex (n,) int64, sorted, so vertex i is the i-th vertex to appear in
    the file; the vertex index of each corner (k,) int32, or int64 beyond 2**31 corners).

    Equal vertices are grouped by sorting a 64-bit hash of their rounded coordinates. A
    collision (two different vertices, one hash) would make the hash count fewer distinct
    values than the truth; a second hash built differently counts them again, and the two
    counts must agree, so a wrong merge needs both to collide in one file. Counting by a
    plain sort is used because gathering the second hash into the first one's order costs
    more on large meshes.

    Why first-appearance order (as trimesh's merge keeps too): neighbouring faces of a file
    then get nearby vertex numbers, which lets `meshstats.body_count`'s union-find settle in
    two or three rounds instead of eight, and keeps the later gathers cache-friendly.
    """
    primary, check = hashes.primary, hashes.check
    del hashes  # the caller passes its only reference: each buffer is freed once used
    check.sort()
    distinct = int(np.count_nonzero(_distinct_sorted(check)))
    grouped = _group_packed(primary, distinct, out=check)  # reuse: fresh pages cost faults
    del check
    if grouped is None:
        grouped = _group_argsort(primary, distinct)
    if grouped is None:
        log.warning("vertex hash collision; merging by exact row sort instead")
        return _merge_exact(_read_all_corners(reader))
    del primary
    return _first_appearance_labels(*grouped)


def _first_appearance_labels(order: np.ndarray, new_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number groups by where they first appear. order: (k,) int, the corners sorted so that
    equal vertices are adjacent and each group lists its corners in ascending index order;
    new_group: (k,) bool, True where a group starts in that order. Returns like `_merge`.

    The groups are put in first-appearance order by one small sort (n, not k, values) of
    each group's first corner packed with the group's number; every corner then gets its
    group's new number, written block by block so the temporaries stay small."""
    count = len(order)
    index_type = np.int32 if count < np.iinfo(np.int32).max else np.int64
    starts = np.flatnonzero(new_group)  # (n,) where each group begins in sorted order
    first_corner = order[starts]  # (n,) in group order
    groups = len(starts)
    group_bits = max(1, (groups - 1).bit_length())
    if max(1, (count - 1).bit_length()) + group_bits <= _WORD_BITS:
        # (first corner << group_bits) | group, sorted: a plain sort, no argsort
        packed = first_corner.astype(np.uint64)
        packed <<= np.uint64(group_bits)
        packed |= np.arange(groups, dtype=np.uint64)
        packed.sort()
        by_appearance = (packed & np.uint64((1 << group_bits) - 1)).astype(np.intp)
        packed >>= np.uint64(group_bits)
        first = packed.view(np.int64)  # sorted: vertex i's first corner
    else:  # beyond 2**31 corners the two do not share one word
        by_appearance = np.argsort(first_corner)
        first = first_corner[by_appearance].astype(np.int64)
    label = np.empty(groups, dtype=index_type)
    label[by_appearance] = np.arange(groups, dtype=index_type)
    sizes = np.diff(starts, append=count)
    inverse = np.empty(count, dtype=index_type)
    step = _CHUNK_FACES  # groups per block: a few hundred thousand corners
    for g in range(0, groups, step):
        rows = slice(starts[g], starts[g + step] if g + step < groups else count)
        inverse[order[rows]] = np.repeat(label[g : g + step], sizes[g : g + step])
    return first, inverse


def _group_packed(
    hashes: np.ndarray, distinct: int, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Group equal hashes with one plain sort: the top bits of each hash and the corner's
    index share one uint64, so sorting it yields the permutation too (numpy's vectorised
    sort is ~5x faster than its argsort here), with each group's corners in index order.
    Returns (order (k,) int64, group starts (k,) bool in sorted order), or None when the
    truncated hash merged vertices the check hash tells apart, or when the index leaves too
    few hash bits for it to be worth trying. out: an optional (k,) uint64 buffer to build
    the packed keys in."""
    count = len(hashes)
    index_bits = max(1, (count - 1).bit_length())
    hash_bits = 64 - index_bits
    # chance of any collision among `distinct` values in hash_bits bits (birthday bound)
    if distinct * distinct / 2.0 ** (hash_bits + 1) > _PACKED_COLLISION_RISK:
        return None
    packed = np.right_shift(hashes, np.uint64(index_bits), out=out)
    packed <<= np.uint64(index_bits)
    step = _CHUNK_FACES * 3
    for start in range(0, count, step):  # the indices block by block: no (k,) temporary
        packed[start : start + step] |= np.arange(start, min(start + step, count), dtype=np.uint64)
    packed.sort()
    new_group = _distinct_sorted_high(packed, index_bits)
    if int(np.count_nonzero(new_group)) != distinct:
        log.debug("truncated vertex hash collided; grouping by the full hash")
        return None
    packed &= np.uint64((1 << index_bits) - 1)
    return packed.view(np.int64), new_group


def _group_argsort(hashes: np.ndarray, distinct: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Group by the full 64-bit hash with a stable argsort (each group's corners stay in
    index order); None if it still collides."""
    order = np.argsort(hashes, kind="stable")
    new_group = _distinct_sorted(np.sort(hashes))  # sorting again beats gathering
    if int(np.count_nonzero(new_group)) != distinct:
        return None
    return order, new_group


def _merge_exact(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slow, collision-free merge: unique rows of the rounded coordinates.
    corners: (k, 3) float. Returns like `_merge`."""
    _rows, inverse = np.unique(_rounded(corners), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    return _first_appearance_labels(order, _distinct_sorted(inverse[order]))


def read_binary_stl(path: Path, on_corners: CornerSink | None = None) -> IndexedMesh:
    """Read and merge the binary STL at `path` (the caller has sniffed it as binary STL).

    on_corners: called with each block of triangles (see `CornerSink`), in file order, while
    it is still in cache (e.g. `meshstats.SurfaceAccumulator.add_corners`); the block is
    only valid during the call. Raises the DesignFileError subclasses of `_open_checked` and
    `_hash_corners`.
    """
    with Path(path).open("rb") as f:
        reader = _RecordReader(f, _open_checked(f))
        first, inverse = _merge(_hash_corners(reader, on_corners), reader)
        vertices = _gather_corners(reader, first)
    return IndexedMesh(vertices=vertices, faces=inverse.reshape(-1, 3))
