"""Read the cut paths of an SVG drawing, in mm, Y up.

Why svgelements: it implements the parts of SVG that decide *what* is drawn and *where*:
CSS and presentation attributes, nested transforms, `<use>` of `<defs>`/`<symbol>`,
viewBox scaling and units, and it leaves out `display:none` and the contents of `<defs>`.
What it still yields but is never drawn (`<mask>`, `<pattern>`, `<marker>` content, a
`<symbol>` outside `<use>`, `visibility:hidden`) is left out here. A laser must not cut a hidden shape:
the corpus's openscad_display.svg holds 52 rectangles of which 17 are visible.

Units: a width/height with a physical unit (mm, cm, in, pt, pc) sets the scale exactly.
Without one (viewBox only, px, or plain numbers), SVG's user unit is the CSS pixel,
1/96 inch, and the outline carries a warning saying so (Illustrator writes 72 per inch).
SVG's Y axis points down; outlines are returned Y up (machine coordinates), mirrored about
the document height, so the drawing keeps its look and its place on the sheet.
"""

from __future__ import annotations

import io
import logging
import math
import re
from pathlib import Path

import numpy as np

from designs.errors import NotAnOutlineError
from designs.outline_geometry import (
    FLATTEN_TOLERANCE_MM,
    MAX_SEGMENT_POINTS,
    PointBudget,
    RawOutline,
)

__all__ = ["CSS_PX_PER_INCH", "read_svg"]

log = logging.getLogger(__name__)

#: SVG user units without a physical size are CSS pixels: 96 per inch.
CSS_PX_PER_INCH = 96.0
_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6, "q": 0.25}
_LENGTH = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z%]*)\s*$")
# elements whose content is never drawn by itself (see `_without_unrendered`)
_UNRENDERED = frozenset({"clipPath", "mask", "pattern", "marker"})
_INVISIBLE = frozenset({"hidden", "collapse"})
# samples per curve segment used to estimate its length before flattening
_PROBE_SAMPLES = 9


def _physical_mm(value: object) -> tuple[float, str] | None:
    """('180mm') -> (180.0, 'mm'); None for px, plain numbers, percentages or nonsense."""
    if not isinstance(value, str):
        return None
    match = _LENGTH.match(value)
    if match is None:
        return None
    unit = match.group(2).lower()
    if unit not in _MM_PER_UNIT:
        return None
    number = float(match.group(1))
    if not math.isfinite(number) or number <= 0:
        return None
    return number * _MM_PER_UNIT[unit], unit


def _segment_points(segment, scale: float, budget: PointBudget) -> np.ndarray:
    """Flatten one svgelements path segment to (k, 2) points in document px (k >= 2)."""
    import svgelements as se

    if isinstance(segment, (se.Line, se.Close)):
        return np.array([[segment.start.x, segment.start.y], [segment.end.x, segment.end.y]])
    probe = np.asarray(segment.npoint(np.linspace(0.0, 1.0, _PROBE_SAMPLES)), dtype=float)
    length_mm = float(np.linalg.norm(np.diff(probe, axis=0), axis=1).sum()) * scale
    # a chord of length c on a curve of radius r strays about c^2 / 8r from it; without
    # the radius, a step of sqrt(8 * tolerance * 1 mm) is right for curves down to r = 1 mm
    step = math.sqrt(8 * FLATTEN_TOLERANCE_MM)
    count = int(min(MAX_SEGMENT_POINTS, max(2, math.ceil(length_mm / step) + 1)))
    budget.take(count)
    return np.asarray(segment.npoint(np.linspace(0.0, 1.0, count)), dtype=float)


def _subpath_points(subpath, scale: float, budget: PointBudget) -> tuple[np.ndarray, bool]:
    """(points (n, 2) in document px, closed) of one svgelements subpath."""
    import svgelements as se

    parts: list[np.ndarray] = []
    closed = False
    for segment in subpath:
        if isinstance(segment, se.Move) or segment.start is None or segment.end is None:
            continue
        if isinstance(segment, se.Close):
            closed = True
            if segment.start == segment.end:
                continue
        points = _segment_points(segment, scale, budget)
        parts.append(points if not parts else points[1:])
    if not parts:
        return np.zeros((0, 2)), False
    points = np.concatenate(parts)
    budget.take(len(points))
    if closed and len(points) > 1 and np.allclose(points[0], points[-1]):
        points = points[:-1]
    return points, closed


def read_svg(path: Path) -> RawOutline:
    """Read the visible paths of the SVG at `path`. Raises NotAnOutlineError when the
    XML cannot be parsed or holds no <svg> root."""
    import svgelements as se

    data = _without_unrendered(Path(path).read_bytes())
    try:
        svg = se.SVG.parse(io.BytesIO(data), reify=True, ppi=CSS_PX_PER_INCH)
    except Exception as exc:  # ElementTree.ParseError, ValueError from broken attributes...
        raise NotAnOutlineError(f"the SVG file could not be read: {_one_line(exc)}") from exc
    if not isinstance(svg, se.SVG):
        raise NotAnOutlineError("the file has no <svg> root element")
    outline = RawOutline()
    declared = _physical_mm(svg.values.get("width")) if svg.values else None
    doc_width = _finite(getattr(svg, "width", None))
    if declared is not None and doc_width:
        scale = declared[0] / doc_width  # exact document width, whatever svgelements rounds
        outline.units = declared[1]
    else:
        scale = 25.4 / CSS_PX_PER_INCH
        outline.units = "px"
        outline.warnings.append(
            "the SVG gives no physical size (width in mm, cm or in): read at 96 px per inch, "
            "the CSS and Inkscape convention (Illustrator uses 72)"
        )
    budget = PointBudget()
    raw: list[tuple[np.ndarray, bool]] = []
    empty = hidden = 0
    try:
        for element in svg.elements():
            if not isinstance(element, se.Shape) or isinstance(element, se.Text):
                continue
            if str(element.values.get("visibility", "")).strip().lower() in _INVISIBLE:
                hidden += 1
                continue
            drawn = 0
            for subpath in se.Path(element).as_subpaths():
                points, closed = _subpath_points(subpath, scale, budget)
                if len(points) >= 2 and np.isfinite(points).all() and not _zero_size(points):
                    raw.append((points, closed))
                    drawn += 1
            if not drawn:  # e.g. <circle r="0">: a shape with nothing to cut
                empty += 1
    except (ValueError, ZeroDivisionError, TypeError, AttributeError, IndexError) as exc:
        raise NotAnOutlineError(f"the SVG file has a shape that cannot be read: {_one_line(exc)}") from exc
    if empty:
        outline.warnings.append(f"{empty} zero-size shape{'s' if empty > 1 else ''} ignored")
    if hidden:
        outline.warnings.append(f"{hidden} hidden shape{'s' if hidden > 1 else ''} (visibility) not cut")
    doc_height = _finite(getattr(svg, "height", None))
    if not doc_height and raw:
        doc_height = max(float(p[:, 1].max()) for p, _ in raw)
    for points, closed in raw:
        mm = np.empty_like(points)
        mm[:, 0] = points[:, 0] * scale
        mm[:, 1] = ((doc_height or 0.0) - points[:, 1]) * scale
        outline.pieces.append((mm, closed))
    return outline


def _without_unrendered(data: bytes) -> bytes:
    """The SVG document without the elements that are never drawn themselves.

    svgelements leaves out `display:none` and `<defs>` content, but yields the shapes
    inside `<mask>`, `<pattern>` and `<marker>` (they shape other elements and must not be
    cut: removed), and draws a `<symbol>` where it stands as well as where it is used (moved
    into a `<defs>`). Parsing with lxml first also refuses entity expansion and
    network access outright (no internal DTD subset survives into svgelements' parser).
    Clipping itself is not applied: a clipped shape is cut whole.
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise NotAnOutlineError(f"the SVG file could not be read: {_one_line(exc)}") from exc
    if root is None:
        raise NotAnOutlineError("the SVG file holds no XML document")
    for element in list(root.iter()):
        if isinstance(element, etree._Entity):
            raise NotAnOutlineError("the SVG file uses XML entities, which cofab does not expand")
        tag = etree.QName(element).localname if isinstance(element.tag, str) else ""
        parent = element.getparent()
        if parent is None:
            continue
        if tag in _UNRENDERED:
            parent.remove(element)
        elif tag == "symbol" and etree.QName(parent).localname != "defs":
            # drawn only through <use>: inside <defs> svgelements still resolves the
            # reference but no longer draws the symbol where it stands
            defs = etree.Element(
                (etree.QName(element).namespace and f"{{{etree.QName(element).namespace}}}defs") or "defs"
            )
            parent.replace(element, defs)
            defs.append(element)
    return etree.tostring(root)


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _zero_size(points: np.ndarray) -> bool:
    return bool(np.ptp(points, axis=0).max() == 0)


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
