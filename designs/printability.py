"""Turn a mesh's measured defects into a verdict a designer can act on.

Why separate from the measuring: the thresholds are policy (what cofab tells a designer and
what a lab may refuse), they change independently of the geometry code, and both analysis
paths (trimesh and the binary-STL fast path) must judge identically.

Policy:
- not printable: the mesh does not enclose a volume a slicer can fill: open (holes),
  non-manifold edges, or faces that disagree about which side is outside. cofab may still
  be able to repair it (`designs.repair`), and says so in the reason.
- printable with warnings: it will slice, but probably not as meant: zero-area faces,
  inside-out normals, a size that suggests the wrong unit, large overhangs needing supports.
- printable: none of the above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from designs.meshstats import OVERHANG_ANGLE_DEG

__all__ = [
    "MAX_PLAUSIBLE_EXTENT_MM",
    "MIN_PLAUSIBLE_EXTENT_MM",
    "OVERHANG_WARNING_FRACTION",
    "Defects",
    "Verdict",
    "judge",
    "units_hint",
]

#: A part whose largest side is below this was most likely exported in metres or inches
#: (an STL has no unit; cofab reads mm).
MIN_PLAUSIBLE_EXTENT_MM = 1.0
#: A part whose largest side is above this is larger than any common printer or cutter
#: bed; often a file in micrometres or a scene with a far-away stray part.
MAX_PLAUSIBLE_EXTENT_MM = 2000.0
#: Above this share of the surface overhanging (see `meshstats.OVERHANG_ANGLE_DEG`), the
#: part needs supports in its designed orientation. A few percent are usually bridges or
#: chamfers a printer manages; a sphere's lower cap is about 15 %.
OVERHANG_WARNING_FRACTION = 0.05

# (unit name, factor to mm) tried when a size looks implausible
_TOO_SMALL_UNITS = (("metres", 1000.0), ("inches", 25.4), ("centimetres", 10.0))
_TOO_LARGE_UNITS = (("micrometres", 0.001), ("tenths of a millimetre", 0.1))


class Verdict(StrEnum):
    """Values are stable: they are stored and sent."""

    PRINTABLE = "printable"
    PRINTABLE_WITH_WARNINGS = "printable_with_warnings"
    NOT_PRINTABLE = "not_printable"


@dataclass(frozen=True, slots=True)
class Defects:
    """What the verdict is judged from (counts as in `designs.meshstats`).

    extents_mm: (3,) float, bounding-box size. signed_volume: mm³, negative when a closed
    mesh's faces point inward. overhang_fraction: 0..1 of the surface area.
    """

    watertight: bool
    winding_consistent: bool
    boundary_edges: int
    nonmanifold_edges: int
    degenerate_faces: int
    signed_volume: float
    overhang_fraction: float
    extents_mm: Sequence[float]


def _mm(value: float) -> str:
    return f"{value:.3g} mm" if value < 10 else f"{value:.0f} mm"


def units_hint(extents_mm: Sequence[float]) -> str | None:
    """A sentence when the largest extent suggests the file is not in mm, else None.

    E.g. 0.127 -> "largest side is 0.127 mm: looks like metres (x1000 = 127 mm) or inches
    (x25.4 = 3.23 mm)". Only conversions landing in the plausible range are suggested.
    """
    largest = max((float(v) for v in extents_mm), default=0.0)
    if MIN_PLAUSIBLE_EXTENT_MM <= largest <= MAX_PLAUSIBLE_EXTENT_MM:
        return None
    if largest <= 0:
        return "the part has no size (all vertices coincide)"
    units = _TOO_SMALL_UNITS if largest < MIN_PLAUSIBLE_EXTENT_MM else _TOO_LARGE_UNITS
    guesses = [
        f"{name} ({'x' if factor > 1 else '/'}{factor if factor > 1 else 1 / factor:g} = {_mm(largest * factor)})"
        for name, factor in units
        if MIN_PLAUSIBLE_EXTENT_MM <= largest * factor <= MAX_PLAUSIBLE_EXTENT_MM
    ]
    size = f"largest side is {largest:.3g} mm"
    if not guesses:
        return f"{size}: implausible for a printed part in any common unit"
    return f"{size}: looks like {' or '.join(guesses)}"


def judge(defects: Defects) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict and its reasons, blocking reasons first. Reasons are one sentence each."""
    blocking: list[str] = []
    warnings: list[str] = []
    if defects.boundary_edges:
        blocking.append(f"not watertight: {defects.boundary_edges:,} open edges (holes in the surface)")
    if defects.nonmanifold_edges:
        blocking.append(
            f"not watertight: {defects.nonmanifold_edges:,} non-manifold edges (shared by more than two faces)"
        )
    if not defects.watertight and not blocking:
        blocking.append("not watertight")
    if not defects.winding_consistent:
        blocking.append("inconsistent winding: neighbouring faces disagree about which side is outside")
    if defects.degenerate_faces:
        warnings.append(f"{defects.degenerate_faces:,} degenerate (zero-area) faces")
    if defects.watertight and defects.winding_consistent and defects.signed_volume < 0:
        warnings.append("the faces point inward (the mesh is inside-out)")
    hint = units_hint(defects.extents_mm)
    if hint is not None:
        warnings.append(f"units look wrong: {hint}")
    if defects.overhang_fraction > OVERHANG_WARNING_FRACTION:
        warnings.append(
            f"{defects.overhang_fraction:.0%} of the surface overhangs more than "
            f"{OVERHANG_ANGLE_DEG:g}°: "
            "needs supports in this orientation"
        )
    if blocking:
        return Verdict.NOT_PRINTABLE, tuple(blocking + warnings)
    if warnings:
        return Verdict.PRINTABLE_WITH_WARNINGS, tuple(warnings)
    return Verdict.PRINTABLE, ()
