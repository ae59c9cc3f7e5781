"""Laser jobs: an SVG or DXF outline becomes GRBL laser G-code for one material.

The outline comes from `designs.outlines.load_outline` (mm, Y up). Cutting parameters come
from the machine profile's material table (power as a percent of the laser's maximum S,
feed, passes, kerf). Geometry with shapely:
- kerf: closed contours are offset by half the kerf, outwards for an outer edge and
  inwards for a hole, so the part comes out at its drawn size;
- order: inner contours before the ones around them (a hole is cut while the part is
  still held by the sheet), nearest next start otherwise, to keep travel short.
G-code (GRBL): G21 G90; for each contour `G0` to its start with the laser off, `M4 S..`
(or M3, per material), the G1 cut moves at the material's feed, repeated for each pass,
then `M5`: the laser is explicitly off on every travel, whatever GRBL's laser-mode setting.
The node's attribution header goes on top. The result still passes the safety check
before it is streamed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LinearRing, Polygon

from designs.outlines import Outline, OutlinePath, load_outline
from firmware_bridge.gcode_check import MachineProfile, Material


class LaserJobError(ValueError):
    """The outline cannot be cut on this machine (too big, unknown material, nothing to cut)."""


@dataclass(frozen=True)
class LaserJob:
    """What was written: the file, the settings used and what the cut will do."""

    path: Path
    material: str
    power_s: float
    feed_mm_min: float
    passes: int
    contours: int
    cut_length_mm: float
    """Length cut, all passes included."""


def outline_gcode(
    outline: Outline,
    profile: MachineProfile,
    material_name: str,
    *,
    header: Sequence[str] = (),
    margin_mm: float = 5.0,
) -> tuple[list[str], LaserJob]:
    """G-code lines for `outline` on `profile` in `material_name` (path left empty)."""
    material = profile.material(material_name)
    if profile.max_s is None:
        raise LaserJobError(f"{profile.name} has no laser max_s; it is not a laser profile")
    power = round(profile.max_s * material.power_percent / 100.0, 1)
    contours = _contours(outline, material)
    if not contours:
        raise LaserJobError("the outline has nothing to cut")
    lo = np.min([c.min(axis=0) for c, _ in contours], axis=0)
    hi = np.max([c.max(axis=0) for c, _ in contours], axis=0)
    size = hi - lo
    room = np.array(profile.size_mm[:2]) - 2 * margin_mm
    rotated = bool(np.any(size > room) and np.all(size[::-1] <= room))
    if rotated:  # a sheet laid the other way round fits: turn the drawing by 90 degrees
        contours = [(np.column_stack((-c[:, 1], c[:, 0])), closed) for c, closed in contours]
        lo = np.min([c.min(axis=0) for c, _ in contours], axis=0)
        size = size[::-1]
    shift = np.array([profile.min_mm[0] + margin_mm, profile.min_mm[1] + margin_mm]) - lo
    if np.any(size > room):
        raise LaserJobError(
            f"the outline is {size[0]:.1f} x {size[1]:.1f} mm; {profile.name} cuts at most "
            f"{room[0]:.1f} x {room[1]:.1f} mm (work area less a {margin_mm:g} mm margin)"
        )
    lines = [
        *header,
        f"; laser: {material.name}, S{power:g} ({material.power_percent:g} %), "
        f"F{material.speed_mm_min:g}, {material.passes} pass(es), kerf {material.kerf_mm:g} mm",
        *(["; drawing turned 90 degrees to fit the work area"] if rotated else []),
        "G21",
        "G90",
        "M5",
    ]
    cut = 0.0
    for points, closed in contours:
        pts = points + shift
        if closed:
            pts = np.vstack((pts, pts[:1]))
        cut += float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()) * material.passes
        lines.append(f"G0 X{pts[0, 0]:.3f} Y{pts[0, 1]:.3f}")
        lines.append(f"{material.mode} S{power:g}")
        for pass_number in range(material.passes):
            # An open path goes back and forth; a closed one starts again where it ended.
            seq = pts if (closed or pass_number % 2 == 0) else pts[::-1]
            first = True
            for x, y in seq[1:]:
                lines.append(f"G1 X{x:.3f} Y{y:.3f}" + (f" F{material.speed_mm_min:g}" if first else ""))
                first = False
        lines.append("M5")
    lines += ["G0 X0 Y0", "M2"]
    job = LaserJob(Path(), material.name, power, material.speed_mm_min, material.passes, len(contours), cut)
    return lines, job


def write_laser_gcode(
    source: Path,
    target: Path,
    profile: MachineProfile,
    material_name: str,
    *,
    header: Sequence[str] = (),
) -> LaserJob:
    """Load the SVG/DXF `source`, write its laser G-code to `target` and describe it."""
    outline = load_outline(source)
    lines, job = outline_gcode(outline, profile, material_name, header=header)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return LaserJob(target, job.material, job.power_s, job.feed_mm_min, job.passes, job.contours, job.cut_length_mm)


def _contours(outline: Outline, material: Material) -> list[tuple[np.ndarray, bool]]:
    """Kerf-compensated contours in cutting order: deepest (innermost) first."""
    closed = [p for p in outline.paths if p.closed and len(p.points) >= 3]
    opened = [p for p in outline.paths if not p.closed and len(p.points) >= 2]
    polygons = [Polygon(p.points) for p in closed]
    depth = _nesting_depth(polygons)
    half = material.kerf_mm / 2.0
    items: list[tuple[int, np.ndarray, bool]] = []
    for path, polygon, level in zip(closed, polygons, depth, strict=True):
        points = _offset(path, polygon, half if level % 2 == 0 else -half)
        if points is not None:
            items.append((level, points, True))
    # Open paths (engraving lines, unclosed drawings) are cut as drawn, before any contour
    # that could free the part around them.
    deepest = max(depth, default=0) + 1
    items += [(deepest, p.points.astype(float), False) for p in opened]
    ordered: list[tuple[np.ndarray, bool]] = []
    position = np.zeros(2)
    for level in sorted({level for level, _, _ in items}, reverse=True):
        group = [(pts, closed_) for lvl, pts, closed_ in items if lvl == level]
        while group:
            k = min(range(len(group)), key=lambda i: float(np.hypot(*(group[i][0][0] - position))))
            pts, closed_ = group.pop(k)
            ordered.append((pts, closed_))
            position = pts[0] if closed_ else pts[-1]
    return ordered


def _nesting_depth(polygons: list[Polygon]) -> list[int]:
    """How many other contours enclose each one (0 = outermost)."""
    valid = [p if p.is_valid else p.buffer(0) for p in polygons]
    tree = shapely.STRtree(valid)
    depth = []
    for i, polygon in enumerate(valid):
        probe = polygon.representative_point()
        inside = [j for j in tree.query(probe, predicate="within") if j != i]
        depth.append(sum(1 for j in inside if valid[j].area > polygon.area))
    return depth


def _offset(path: OutlinePath, polygon: Polygon, distance: float) -> np.ndarray | None:
    """The contour moved `distance` mm outwards (negative: inwards); None if it vanishes."""
    if distance == 0:
        return path.points.astype(float)
    if not polygon.is_valid:
        polygon = polygon.buffer(0)
    moved = polygon.buffer(distance, join_style="mitre", mitre_limit=4.0)
    if moved.is_empty:
        return None
    if moved.geom_type == "MultiPolygon":
        moved = max(moved.geoms, key=lambda g: g.area)
    ring = LinearRing(moved.exterior.coords)
    coords = np.asarray(ring.coords)[:-1]
    return coords if len(coords) >= 3 and math.isfinite(float(coords.sum())) else None
