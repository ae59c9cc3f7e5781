"""Does a part fit a machine's build volume?

Routing asks this for every candidate machine, and a node asks it again before slicing
(PrusaSlicer aborts on a part that does not fit, so the node declines with a reason
instead). The check is deliberately simple: the part's axis-aligned bounding box in each of
the 6 axis permutations (quarter-turn re-orientations), as designed first. Rotation by
arbitrary angles (a long part laid diagonally across the bed) and orientation chosen for
printability (supports, overhangs) are later work (issues 3 and 5).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FitResult", "fit_in_build_volume"]

Axes = tuple[int, int, int]
Vec3 = tuple[float, float, float]

# as designed first, then a quarter turn about Z (keeps the designer's "up"), then the rest
_ORIENTATIONS: tuple[Axes, ...] = (
    (0, 1, 2),
    (1, 0, 2),
    *((a, b, c) for a, b, c in itertools.permutations(range(3)) if (a, b, c) not in ((0, 1, 2), (1, 0, 2))),
)
# absorbs float noise such as 220.00000001 from a CAD export of a 220 mm part
_TOLERANCE_MM = 1e-6
_AXIS = "XYZ"


@dataclass(frozen=True, slots=True)
class FitResult:
    """The answer of `fit_in_build_volume`.

    fits: whether some orientation fits.
    orientation: (3,) int, for each machine axis (X, Y, Z) the index of the part axis placed
      along it, e.g. (0, 1, 2) = as designed, (1, 0, 2) = turned a quarter about Z; None
      when nothing fits.
    oriented_extents_mm: (3,) float, the part's size along machine X, Y, Z in that
      orientation; None when nothing fits.
    reason: one sentence for people, e.g. "part 300.0 x 300.0 x 300.0 mm does not fit build
      volume 200 x 200 x 200 mm in any axis-aligned orientation".
    """

    fits: bool
    orientation: Axes | None
    oriented_extents_mm: Vec3 | None
    reason: str


def _as_vec3(values: Sequence[float], what: str, *, positive: bool) -> Vec3:
    if len(values) != 3:
        raise ValueError(f"{what} must have 3 values (X, Y, Z), got {len(values)}")
    out = tuple(float(v) for v in values)
    for v in out:
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            raise ValueError(f"{what} must be finite and {'> 0' if positive else '>= 0'}: {out}")
    return out  # type: ignore[return-value]


def _size(values: Vec3, fmt: str) -> str:
    return " x ".join(format(v, fmt) for v in values)


def fit_in_build_volume(extents_mm: Sequence[float], build_volume_mm: Sequence[float]) -> FitResult:
    """Find an axis-aligned orientation in which a part fits a build volume.

    extents_mm: (3,) float, the part's bounding-box size (X, Y, Z) as designed, e.g.
      `MeshAnalysis.bbox_extents`. build_volume_mm: (3,) float, the machine's X, Y, Z size.
    Orientations are tried as designed first, then turned about Z, then laid on a side, so
    the result disturbs the designer's orientation as little as possible. Raises ValueError
    for values that are not 3 finite, non-negative numbers (build volume: positive).
    """
    part = _as_vec3(extents_mm, "extents_mm", positive=False)
    volume = _as_vec3(build_volume_mm, "build_volume_mm", positive=True)
    for axes in _ORIENTATIONS:
        oriented: Vec3 = (part[axes[0]], part[axes[1]], part[axes[2]])
        if all(o <= v + _TOLERANCE_MM for o, v in zip(oriented, volume)):
            return FitResult(True, axes, oriented, _fit_reason(part, volume, axes))
    return FitResult(
        fits=False,
        orientation=None,
        oriented_extents_mm=None,
        reason=(
            f"part {_size(part, '.1f')} mm does not fit build volume {_size(volume, 'g')} mm "
            "in any axis-aligned orientation"
        ),
    )


def _fit_reason(part: Vec3, volume: Vec3, axes: Axes) -> str:
    where = f"part {_size(part, '.1f')} mm fits build volume {_size(volume, 'g')} mm"
    if axes == (0, 1, 2):
        return f"{where} as designed"
    placed = ", ".join(
        f"its {_AXIS[part_axis]} along machine {_AXIS[machine_axis]}"
        for machine_axis, part_axis in enumerate(axes)
        if part_axis != machine_axis
    )
    return f"{where} when re-oriented ({placed})"
