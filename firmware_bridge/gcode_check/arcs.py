"""Geometry of G2/G3 arcs: the centre, the swept angle, the bounding box and the length.

An arc can bulge past both of its end points (a half circle from (0,0) to (20,0) reaches
y = -10), so checking only the end points would let an arc leave the work volume.
"""

from __future__ import annotations

import math

import numpy as np


def arc_center_from_radius(
    x0: float, y0: float, x1: float, y1: float, r: float, clockwise: bool
) -> tuple[float, float] | None:
    """The centre of the R-form arc; None when the end points are farther apart than 2R.

    Following the RS274 convention, a negative R asks for the arc longer than 180 degrees.
    """
    dx, dy = x1 - x0, y1 - y0
    chord = math.hypot(dx, dy)
    if chord == 0 or chord > 2 * abs(r) * (1 + 1e-9):
        return None
    h = math.sqrt(max(0.0, r * r - (chord / 2) ** 2))
    # Offset from the chord's midpoint towards the centre, on the side fixed by direction
    # and the sign of R.
    side = -1.0 if clockwise else 1.0
    if r < 0:
        side = -side
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    return mx - side * h * dy / chord, my + side * h * dx / chord


def arc_extents(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    clockwise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(min_x, min_y, max_x, max_y, length) of many arcs in their plane, one per element.

    The one implementation: the fast path calls it on all arcs of a chunk, the interpreter
    (through `arc_bounds`) on one. Equal start and end points mean a full circle, as in
    every firmware; every multiple of 90 degrees the arc passes is an extreme on one axis.
    """
    radius = np.hypot(x0 - cx, y0 - cy)
    a0 = np.arctan2(y0 - cy, x0 - cx)
    a1 = np.arctan2(y1 - cy, x1 - cx)
    sweep = a1 - a0  # signed, negative = clockwise
    sweep = np.where(clockwise & (sweep >= -1e-12), sweep - 2 * np.pi, sweep)
    sweep = np.where(~clockwise & (sweep <= 1e-12), sweep + 2 * np.pi, sweep)
    lo = np.where(sweep < 0, a0 + sweep, a0)
    hi = np.where(sweep < 0, a0, a0 + sweep)
    bounds = [np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)]
    quarter = np.pi / 2
    k = np.ceil(lo / quarter)
    for step in range(5):  # a sweep below 2 pi passes at most 4 (+1 at the edge) quarters
        inside = (k + step) * quarter <= hi
        quadrant = np.mod(k + step, 4)
        for q, (which, extreme, sign) in enumerate(((2, cx, 1), (3, cy, 1), (0, cx, -1), (1, cy, -1))):
            hit = inside & (quadrant == q)
            if hit.any():
                value = extreme + sign * radius
                pick = np.maximum if sign > 0 else np.minimum
                bounds[which] = np.where(hit, pick(bounds[which], value), bounds[which])
    return bounds[0], bounds[1], bounds[2], bounds[3], np.abs(sweep) * radius


def arc_bounds(
    x0: float, y0: float, x1: float, y1: float, cx: float, cy: float, clockwise: bool
) -> tuple[float, float, float, float, float]:
    """(min_x, min_y, max_x, max_y, length) of one arc: `arc_extents` on one element."""

    def one(v: float) -> np.ndarray:
        return np.array([v], dtype=np.float64)

    result = arc_extents(one(x0), one(y0), one(x1), one(y1), one(cx), one(cy), np.array([clockwise]))
    return tuple(float(v[0]) for v in result)  # type: ignore[return-value]
