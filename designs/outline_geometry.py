"""Plain 2D geometry shared by the SVG and DXF readers: flattening budget, and joining loose
pieces into paths.

Why joining: CAD programs often write a closed contour as separate LINE/ARC entities (the
corpus's Prusa front plate is 552 LINEs making 19 closed loops). A laser job cares about
contours: whether a cut closes (a part falls out) and in what order to cut, so pieces that
meet end to end are chained into one path, and a chain that returns to its start is closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from designs.errors import MeshTooLargeError

__all__ = [
    "FLATTEN_TOLERANCE_MM",
    "JOIN_TOLERANCE_MM",
    "MAX_OUTLINE_POINTS",
    "MAX_SEGMENT_POINTS",
    "PointBudget",
    "RawOutline",
    "join_pieces",
]

log = logging.getLogger(__name__)

#: Curves (arcs, circles, splines, Béziers) become polylines that stray at most about this
#: far from the true curve: a tenth of a typical laser kerf (0.1-0.2 mm).
FLATTEN_TOLERANCE_MM = 0.01
#: Piece ends closer than this are one point (CAD exports repeat coordinates exactly or
#: within float noise).
JOIN_TOLERANCE_MM = 1e-4
#: Most points one curve segment may become, so a hostile 1 km arc cannot explode memory.
MAX_SEGMENT_POINTS = 20_000
#: Most points one outline may hold in all: far beyond real cut files (a dense engraving is
#: ~10^5), small enough to keep a hub worker's memory bounded.
MAX_OUTLINE_POINTS = 5_000_000


class PointBudget:
    """Counts points as a reader produces them and refuses an outline that grows too big."""

    def __init__(self, limit: int = MAX_OUTLINE_POINTS) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise MeshTooLargeError(
                f"the outline has more than {self.limit:,} points after flattening its "
                "curves, more than cofab accepts for a cut file"
            )


@dataclass
class RawOutline:
    """What a reader found, before bounding boxes and totals.

    pieces: (points (n, 2) float mm, closed) per path or piece; closed paths do not repeat
    their first point at the end. units: the unit the file declared. warnings: sentences.
    """

    pieces: list[tuple[np.ndarray, bool]] = field(default_factory=list)
    units: str = "mm"
    warnings: list[str] = field(default_factory=list)


def _key(point: np.ndarray, tolerance: float) -> tuple[int, int]:
    return (round(float(point[0]) / tolerance), round(float(point[1]) / tolerance))


def _close_if_looped(points: np.ndarray, tolerance: float) -> tuple[np.ndarray, bool]:
    """(points, closed) with a repeated first point at the end removed."""
    if len(points) >= 3 and _key(points[0], tolerance) == _key(points[-1], tolerance):
        return points[:-1], True
    return points, False


def join_pieces(
    pieces: list[tuple[np.ndarray, bool]], tolerance: float = JOIN_TOLERANCE_MM
) -> list[tuple[np.ndarray, bool]]:
    """Chain open pieces that meet end to end into longer paths.

    pieces: (points (n, 2) float, closed). Closed pieces pass through unchanged. Open pieces
    are chained greedily through shared end points (snapped to a `tolerance` grid), reversing
    a piece when needed; a chain that comes back to its start is closed. At a junction of
    three or more pieces the first free one is taken, which keeps every piece cut exactly
    once (the total cut length is unchanged) though not necessarily in the order a person
    would choose.
    """
    result: list[tuple[np.ndarray, bool]] = []
    open_pieces: list[np.ndarray] = []
    for points, closed in pieces:
        if len(points) < 2:
            continue
        if closed:
            result.append((points, True))
        else:
            joined, looped = _close_if_looped(points, tolerance)
            if looped:
                result.append((joined, True))
            else:
                open_pieces.append(joined)
    # end point key -> indices of open pieces with an end there
    ends: dict[tuple[int, int], list[int]] = {}
    for index, points in enumerate(open_pieces):
        for end in (points[0], points[-1]):
            ends.setdefault(_key(end, tolerance), []).append(index)
    used = [False] * len(open_pieces)

    def take_next(key: tuple[int, int]) -> np.ndarray | None:
        for index in ends.get(key, ()):
            if not used[index]:
                used[index] = True
                points = open_pieces[index]
                return points if _key(points[0], tolerance) == key else points[::-1]
        return None

    for index, points in enumerate(open_pieces):
        if used[index]:
            continue
        used[index] = True
        chain = [points]
        start_key = _key(points[0], tolerance)
        while (nxt := take_next(_key(chain[-1][-1], tolerance))) is not None:
            chain.append(nxt[1:])
            if _key(nxt[-1], tolerance) == start_key:
                break
        if _key(chain[-1][-1], tolerance) != start_key:
            # extend backwards from the start as well
            while (prev := take_next(_key(chain[0][0], tolerance))) is not None:
                chain.insert(0, prev[::-1][:-1])
        joined = np.concatenate(chain) if len(chain) > 1 else chain[0]
        result.append(_close_if_looped(joined, tolerance))
    return result
