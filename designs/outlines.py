"""2D outlines for laser cutters and CNC routers: SVG and DXF cut files, in mm.

What a lab needs to know before accepting a cut job: the size of the sheet it takes, how
long the cut is (time and price scale with it), and whether the contours close (an open
contour cuts a slit, not a part). `load_outline` answers with an `Outline`: polylines in mm
(curves flattened to `outline_geometry.FLATTEN_TOLERANCE_MM`), Y up as on the machine, plus
those figures and warnings a person should read.

The readers live in `outline_svg` (svgelements) and `outline_dxf` (ezdxf); loose pieces are
chained into contours by `outline_geometry.join_pieces`. Like meshes, a file is recognised
by its content (`sniff_outline`), and every file that cannot be read raises a
`DesignFileError` subclass (NotAnOutlineError, EmptyOutlineError, EmptyFileError,
MeshTooLargeError) with one sentence for people.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from designs.errors import EmptyFileError, EmptyOutlineError, NotAnOutlineError
from designs.outline_geometry import RawOutline, join_pieces

__all__ = [
    "MAX_OUTLINE_FILE_BYTES",
    "Outline",
    "OutlineFormat",
    "OutlinePath",
    "load_outline",
    "sniff_outline",
]

log = logging.getLogger(__name__)

#: SVG and DXF readers hold the whole document in memory: refuse bigger cut files.
MAX_OUTLINE_FILE_BYTES = 200 * 1024 * 1024

_SNIFF_BYTES = 8192
_BINARY_DXF_MAGIC = b"AutoCAD Binary DXF\r\n\x1a\x00"
# XML prolog, comments, doctype and processing instructions that may precede <svg
_XML_PREAMBLE = re.compile(rb"^(?:\s|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>[]*(?:\[.*?\])?\s*>)*", re.S | re.I)
_SVG_ROOT = re.compile(rb"^<(?:[a-z0-9_-]+:)?svg[\s>/]", re.I)
# an ASCII DXF starts with group code 0 and SECTION (optionally after 999 comment groups)
_DXF_START = re.compile(rb"^(?:\s*999\s*\r?\n[^\n]*\n)*\s*0\s*\r?\n\s*SECTION\s*\r?\n", re.I)


class OutlineFormat(StrEnum):
    """The 2D encodings cofab reads. Values are stable: they are stored and sent."""

    SVG = "svg"
    DXF = "dxf"


@dataclass(frozen=True)
class OutlinePath:
    """One contour. points: (n, 2) float, mm, Y up, read-only; a closed path returns from
    its last point to its first (the first point is not repeated at the end)."""

    points: np.ndarray
    closed: bool

    @property
    def length_mm(self) -> float:
        """Cut length of this path, including the closing segment of a closed path."""
        if len(self.points) < 2:
            return 0.0
        pts = np.vstack((self.points, self.points[:1])) if self.closed else self.points
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


@dataclass(frozen=True)
class Outline:
    """What cofab knows about one cut file. Lengths in mm.

    paths: the visible contours, pieces that met end to end already joined.
    bbox_min, bbox_extents: (2,) float, the bounding box of all paths (X, Y).
    cut_length_mm: total length of all paths (what the tool travels while cutting).
    closed_paths, open_paths: how many contours close on themselves, and how many do not.
    units: the unit the file declared ("mm", "in", "px", "m", "unitless", ...); the points
      are always mm, and `warnings` says when the declared unit was not believed.
    warnings: sentences a person should read (assumed units, ignored elements, open paths).
    """

    format: OutlineFormat
    paths: tuple[OutlinePath, ...]
    bbox_min: tuple[float, float]
    bbox_extents: tuple[float, float]
    cut_length_mm: float
    closed_paths: int
    open_paths: int
    units: str
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict without the point arrays."""
        return {
            "format": str(self.format),
            "paths": len(self.paths),
            "points": int(sum(len(p.points) for p in self.paths)),
            "bbox_min": [float(v) for v in self.bbox_min],
            "bbox_extents": [float(v) for v in self.bbox_extents],
            "cut_length_mm": float(self.cut_length_mm),
            "closed_paths": int(self.closed_paths),
            "open_paths": int(self.open_paths),
            "units": self.units,
            "warnings": list(self.warnings),
        }


def sniff_outline(head: bytes, filename: str | None = None) -> OutlineFormat | None:
    """The outline format of a file from its first bytes (8 KiB are plenty), or None.

    SVG: an XML document whose root element is <svg> (after an optional BOM, XML
    declaration, comments and doctype). DXF: ASCII group code 0 followed by SECTION, or the
    binary DXF signature. filename is only a tie-breaker: an XML document whose root is cut
    off after the 8 KiB of comments counts as SVG when the name ends in .svg.
    """
    text = head[:_SNIFF_BYTES]
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    if text.startswith(_BINARY_DXF_MAGIC):
        return OutlineFormat.DXF
    if _DXF_START.match(text):
        return OutlineFormat.DXF
    stripped = text.lstrip()
    if stripped.startswith(b"<"):
        preamble = _XML_PREAMBLE.match(stripped)
        rest = stripped[preamble.end() if preamble else 0 :]
        if _SVG_ROOT.match(rest):
            return OutlineFormat.SVG
        suffix = PurePath(filename).suffix.lower() if filename else ""
        if not rest and suffix == ".svg":
            return OutlineFormat.SVG
    return None


def _frozen(points: np.ndarray) -> np.ndarray:
    """A read-only float64 copy: an Outline is a frozen value, its arrays too."""
    array = np.array(points, dtype=np.float64, order="C")
    array.flags.writeable = False
    return array


def _bbox(paths: list[OutlinePath]) -> tuple[tuple[float, float], tuple[float, float]]:
    stacked = np.concatenate([p.points for p in paths])
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    return (float(low[0]), float(low[1])), (float(high[0] - low[0]), float(high[1] - low[1]))


def _finish(fmt: OutlineFormat, raw: RawOutline) -> Outline:
    paths = [OutlinePath(points=_frozen(points), closed=closed) for points, closed in join_pieces(raw.pieces)]
    if not paths:
        raise EmptyOutlineError(f"the {fmt.upper()} file holds no visible paths to cut")
    closed = sum(1 for p in paths if p.closed)
    warnings = list(raw.warnings)
    if closed < len(paths):
        opened = len(paths) - closed
        warnings.append(f"{opened} open path{'s' if opened > 1 else ''}: cut as lines, enclosing nothing")
    bbox_min, bbox_extents = _bbox(paths)
    length = float(sum(p.length_mm for p in paths))
    if not all(math.isfinite(v) for v in (*bbox_min, *bbox_extents, length)):
        raise NotAnOutlineError(f"the {fmt.upper()} file has coordinates too large to use")
    return Outline(
        format=fmt,
        paths=tuple(paths),
        bbox_min=bbox_min,
        bbox_extents=bbox_extents,
        cut_length_mm=length,
        closed_paths=closed,
        open_paths=len(paths) - closed,
        units=raw.units,
        warnings=tuple(warnings),
    )


def load_outline(path: Path, fmt: OutlineFormat | None = None) -> Outline:
    """Load the SVG or DXF file at `path` as an `Outline` in mm.

    fmt: the format if already sniffed; sniffed from the content otherwise. Raises
    EmptyFileError (0 bytes), NotAnOutlineError (not SVG/DXF, or unreadable),
    EmptyOutlineError (nothing visible to cut), MeshTooLargeError (too many points or bytes).
    """
    from designs.errors import MeshTooLargeError

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError("the file is empty (0 bytes)")
    if size > MAX_OUTLINE_FILE_BYTES:
        raise MeshTooLargeError(
            f"the cut file has {size:,} bytes, more than the {MAX_OUTLINE_FILE_BYTES:,} cofab reads"
        )
    if fmt is None:
        with path.open("rb") as f:
            fmt = sniff_outline(f.read(_SNIFF_BYTES), path.name)
        if fmt is None:
            raise NotAnOutlineError("the file is neither an SVG nor a DXF drawing")
    fmt = OutlineFormat(fmt)
    if fmt is OutlineFormat.SVG:
        from designs.outline_svg import read_svg

        raw = read_svg(path)
    else:
        from designs.outline_dxf import read_dxf

        raw = read_dxf(path)
    return _finish(fmt, raw)
