"""Geometry of G2/G3 arcs: the centre, the swept angle, the bounding box and the length.

An arc can bulge past both of its end points (a half circle from (0,0) to (20,0) reaches
y = -10), so checking only the end points would let an arc leave the work volume.
"""

from __future__ import annotations

import math


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


def arc_sweep(
    x0: float, y0: float, x1: float, y1: float, cx: float, cy: float, clockwise: bool
) -> float:
    """The signed angle swept from start to end around the centre (negative = clockwise).

    Equal start and end points mean a full circle, as in every firmware.
    """
    a0 = math.atan2(y0 - cy, x0 - cx)
    a1 = math.atan2(y1 - cy, x1 - cx)
    sweep = a1 - a0
    if clockwise:
        if sweep >= -1e-12:
            sweep -= 2 * math.pi
    elif sweep <= 1e-12:
        sweep += 2 * math.pi
    return sweep


def arc_bounds(
    x0: float, y0: float, x1: float, y1: float, cx: float, cy: float, clockwise: bool
) -> tuple[float, float, float, float, float]:
    """(min_x, min_y, max_x, max_y, length) of the arc in its plane."""
    r = math.hypot(x0 - cx, y0 - cy)
    sweep = arc_sweep(x0, y0, x1, y1, cx, cy, clockwise)
    min_x, max_x = min(x0, x1), max(x0, x1)
    min_y, max_y = min(y0, y1), max(y0, y1)
    start = math.atan2(y0 - cy, x0 - cx)
    # Every multiple of 90 degrees the arc passes is an extreme point on one axis.
    lo, hi = (start + sweep, start) if sweep < 0 else (start, start + sweep)
    k = math.ceil(lo / (math.pi / 2))
    while k * (math.pi / 2) <= hi:
        quadrant = k % 4
        if quadrant == 0:
            max_x = max(max_x, cx + r)
        elif quadrant == 1:
            max_y = max(max_y, cy + r)
        elif quadrant == 2:
            min_x = min(min_x, cx - r)
        else:
            min_y = min(min_y, cy - r)
        k += 1
    return min_x, min_y, max_x, max_y, abs(sweep) * r
