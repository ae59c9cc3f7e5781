"""Read the cut paths of a DXF drawing, in mm.

Why ezdxf: it reads every DXF version (R12 to R2018, ASCII and binary), resolves block
references (INSERT) with their transforms, and turns LINE, LWPOLYLINE/POLYLINE (with
bulges), ARC, CIRCLE, ELLIPSE and SPLINE into paths it can flatten to a chord tolerance.
Entities that are not cut geometry (TEXT, DIMENSION, HATCH, POINT...) are skipped and
counted in a warning, as are entities on layers that are off or frozen (hidden, as hidden
SVG elements are).

Units: `$INSUNITS` says what a drawing unit is. Exporters get it wrong: the corpus's Prusa
front plate declares metres but is 205 x 50 mm. When the declared unit would make the
drawing absurdly large or small for a cut file while reading it as mm would not, it is read
as mm with a warning. A drawing without a unit (0) is read as mm, with a warning.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

import numpy as np

from designs.errors import NotAnOutlineError
from designs.outline_geometry import (
    FLATTEN_TOLERANCE_MM,
    PointBudget,
    RawOutline,
)

__all__ = ["MAX_PLAUSIBLE_SHEET_MM", "MIN_PLAUSIBLE_SHEET_MM", "read_dxf"]

log = logging.getLogger(__name__)

#: A cut file larger than this in its longest side (in mm) is implausible: beds of the
#: largest common laser and CNC machines are around 3 m.
MAX_PLAUSIBLE_SHEET_MM = 5000.0
#: ... and a whole drawing smaller than this is too.
MIN_PLAUSIBLE_SHEET_MM = 0.5

# $INSUNITS code -> (unit name, mm per unit); codes from the DXF reference
_INSUNITS: dict[int, tuple[str, float]] = {
    1: ("in", 25.4),
    2: ("ft", 304.8),
    3: ("mi", 1_609_344.0),
    4: ("mm", 1.0),
    5: ("cm", 10.0),
    6: ("m", 1000.0),
    7: ("km", 1_000_000.0),
    8: ("microinch", 25.4e-6),
    9: ("mil", 0.0254),
    10: ("yd", 914.4),
    13: ("um", 0.001),
    14: ("dm", 100.0),
}
_CUT_TYPES = frozenset({"LINE", "LWPOLYLINE", "POLYLINE", "ARC", "CIRCLE", "ELLIPSE", "SPLINE"})
_CONTAINER_TYPES = frozenset({"INSERT"})
_BUDGET_STEP = 1 << 16


def _visible_entities(doc, skipped: Counter) -> list:
    """Cut-geometry entities of the model space, blocks expanded, hidden layers left out."""
    from ezdxf.disassemble import recursive_decompose

    hidden_layers = {layer.dxf.name.lower() for layer in doc.layers if layer.is_off() or layer.is_frozen()}
    entities = []
    for entity in recursive_decompose(doc.modelspace()):
        kind = entity.dxftype()
        if entity.dxf.get("layer", "0").lower() in hidden_layers or entity.dxf.get("invisible", 0):
            skipped["on hidden layers"] += 1
        elif kind in _CUT_TYPES:
            entities.append(entity)
        elif kind not in _CONTAINER_TYPES:
            skipped[kind] += 1
    return entities


def _flatten(entity, tolerance: float, budget: PointBudget) -> tuple[np.ndarray, bool] | None:
    """(points (n, 2) in drawing units, closed) of one entity, None if it is empty."""
    from ezdxf import path as dxfpath

    path = dxfpath.make_path(entity)
    if len(path) == 0 and entity.dxftype() != "LINE":
        return None
    vertices = []
    for vertex in path.flattening(tolerance, segments=4):
        vertices.append((vertex.x, vertex.y))
        if len(vertices) % _BUDGET_STEP == 0:  # refuse a runaway curve while it grows
            budget.take(_BUDGET_STEP)
    budget.take(len(vertices) % _BUDGET_STEP)
    points = np.asarray(vertices, dtype=float).reshape(-1, 2)
    if len(points) < 2 or not np.isfinite(points).all():
        return None
    closed = bool(path.is_closed) or entity.dxftype() == "CIRCLE"
    if closed and np.allclose(points[0], points[-1]):
        points = points[:-1]
    return points, closed


def _unit(doc, extent_units: float, outline: RawOutline) -> float:
    """mm per drawing unit, choosing mm over an absurd declared unit (with a warning)."""
    code = int(doc.header.get("$INSUNITS", 0) or 0)
    if code not in _INSUNITS:
        outline.units = "unitless"
        outline.warnings.append(f"the DXF declares no usable unit ($INSUNITS={code}): read as mm")
        return 1.0
    name, factor = _INSUNITS[code]
    outline.units = name
    size = extent_units * factor
    plausible_as_mm = MIN_PLAUSIBLE_SHEET_MM <= extent_units <= MAX_PLAUSIBLE_SHEET_MM
    if factor != 1.0 and plausible_as_mm and not (MIN_PLAUSIBLE_SHEET_MM <= size <= MAX_PLAUSIBLE_SHEET_MM):
        outline.warnings.append(
            f"the DXF declares {name} ($INSUNITS={code}), which would make it "
            f"{size / 1000:.3g} m wide; read as mm instead ({extent_units:.4g} mm)"
        )
        return 1.0
    return factor


def read_dxf(path: Path) -> RawOutline:
    """Read the visible cut geometry of the DXF at `path`. Raises NotAnOutlineError when
    ezdxf cannot read it (damaged structure, decimal commas, binary garbage)."""
    import ezdxf

    try:
        doc = ezdxf.readfile(str(path))
    except MemoryError:
        raise
    except Exception as exc:  # DXFStructureError, ValueError, UnicodeDecodeError, ...
        raise NotAnOutlineError(f"the DXF file could not be read: {_one_line(exc)}") from exc
    outline = RawOutline()
    skipped: Counter = Counter()
    budget = PointBudget()
    pieces: list[tuple[np.ndarray, bool]] = []
    try:
        entities = _visible_entities(doc, skipped)
        # flatten in drawing units; the tolerance follows the unit chosen below, so estimate
        # the size from the entities' raw extents first
        first = [p for p in (_flatten(e, math.inf, PointBudget()) for e in entities) if p]
        extent = _extent([p for p, _ in first])
        factor = _unit(doc, extent, outline)
        tolerance = FLATTEN_TOLERANCE_MM / factor
        for entity in entities:
            flat = _flatten(entity, tolerance, budget)
            if flat is not None:
                pieces.append(flat)
    except (ValueError, TypeError, AttributeError, IndexError, ZeroDivisionError, KeyError) as exc:
        raise NotAnOutlineError(f"the DXF file has an entity that cannot be read: {_one_line(exc)}") from exc
    for points, closed in pieces:
        outline.pieces.append((points * factor, closed))
    if skipped:
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(skipped.items()))
        outline.warnings.append(f"ignored what is not cut geometry: {listed}")
    return outline


def _extent(point_sets: list[np.ndarray]) -> float:
    if not point_sets:
        return 0.0
    stacked = np.concatenate(point_sets)
    return float(np.ptp(stacked, axis=0).max())


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
