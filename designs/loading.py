"""Load a design file into one trimesh mesh, in millimetres, or say clearly why not.

Why a wrapper around `trimesh.load`:
- the format comes from the content (`designs.formats`), and is passed to trimesh as
  `file_type`, so a file stored by hash or misnamed is parsed by the right reader;
- the file is handed to trimesh as an open file object, so trimesh has no folder to resolve
  references from: an OBJ's `mtllib ../../somewhere` is ignored rather than followed;
- a scene (multi-solid STL, multi-object 3MF) becomes one mesh with its transforms baked in,
  which is what analysis, fit and slicing reason about;
- a 3MF's declared unit is converted to mm (STL and OBJ carry no unit: mm is assumed);
- every parser failure becomes a `DesignFileError` with a sentence a designer can act on.
"""

from __future__ import annotations

import errno
import io
import logging
import re
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import trimesh
from lxml import etree

from designs.errors import (
    DesignFileError,
    EmptyMeshError,
    NotAMeshError,
    TruncatedMeshError,
)
from designs.formats import MeshFormat, check_3mf_container, extension_for, sniff_file

__all__ = ["MESH_UNITS", "SOURCE_UNITS_KEY", "load_mesh"]

log = logging.getLogger(__name__)

#: The unit of every mesh `load_mesh` returns.
MESH_UNITS = "millimeters"
#: `mesh.metadata` key holding the unit the file declared (None for STL/OBJ: no units).
SOURCE_UNITS_KEY = "cofab_source_units"

_FORMAT_NAME: dict[MeshFormat, str] = {
    MeshFormat.STL_BINARY: "binary STL",
    MeshFormat.STL_ASCII: "ASCII STL",
    MeshFormat.THREEMF: "3MF",
    MeshFormat.OBJ: "OBJ",
}


def load_mesh(path: Path, fmt: MeshFormat | None = None) -> trimesh.Trimesh:
    """Load the mesh file at `path` as one `trimesh.Trimesh` in millimetres.

    fmt: the format if already sniffed (saves a read); sniffed from the content otherwise.
    Vertices are merged (trimesh's default processing), so face/vertex counts match what
    `trimesh.load` reports. The unit the file declared is kept in
    `mesh.metadata[SOURCE_UNITS_KEY]`.

    Raises EmptyMeshError when the file has no triangles, TruncatedMeshError when it is cut
    short, NotAMeshError for anything the parser rejects, plus what `sniff_file` raises.
    Memory exhaustion is not a property of the file and is left to propagate.
    """
    path = Path(path)
    if fmt is None:
        fmt = sniff_file(path)  # includes the 3MF container check
    else:
        fmt = MeshFormat(fmt)
        if fmt is MeshFormat.THREEMF:
            # callers that sniffed from the upload's first bytes have not seen the ZIP's
            # table of contents yet: refuse a damaged archive or a zip bomb before trimesh
            # inflates it
            check_3mf_container(path)
    try:
        with path.open("rb") as f:
            stream: BinaryIO = f
            if fmt is MeshFormat.STL_ASCII:
                stream = io.BytesIO(_checked_ascii_stl(f.read()))
            # process=False: trimesh's processing silently re-points faces that use a NaN
            # vertex to vertex 0, so finiteness is checked first
            scene = trimesh.load_scene(stream, file_type=extension_for(fmt).removeprefix("."), process=False)
        for geometry in scene.geometry.values():
            if isinstance(geometry, trimesh.Trimesh):
                _refuse_non_finite(geometry, fmt)
                if not geometry.metadata.get("processed"):
                    geometry.process()  # trimesh's default: merge duplicate vertices
        mesh = scene.to_mesh()
    except (DesignFileError, MemoryError):
        raise
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # a real I/O failure, not the file's fault
            raise
        # a seek to a negative offset: a damaged ZIP directory points outside the file
        log.debug("trimesh could not load %s as %s", path, fmt, exc_info=True)
        raise _explain_failure(path, fmt, exc) from exc
    except Exception as exc:  # trimesh raises ValueError, KeyError, IndexError, lxml errors...
        log.debug("trimesh could not load %s as %s", path, fmt, exc_info=True)
        raise _explain_failure(path, fmt, exc) from exc

    if len(mesh.faces) == 0:
        raise _empty_mesh_error(path, fmt)
    _refuse_malformed(mesh, fmt)
    _refuse_non_finite(mesh, fmt)  # scene transforms could still carry NaN
    _to_millimetres(mesh, scene.units)
    return mesh


_SOLID = re.compile(rb"^[ \t]*solid\b", re.IGNORECASE | re.MULTILINE)
_ENDSOLID = re.compile(rb"^[ \t]*endsolid\b", re.IGNORECASE | re.MULTILINE)
# a vertex line that does not hold exactly 3 values
_BAD_VERTEX = re.compile(
    rb"^[ \t]*vertex\b(?![ \t]+[^ \t\r\n]+[ \t]+[^ \t\r\n]+[ \t]+[^ \t\r\n]+[ \t]*\r?$)",
    re.IGNORECASE | re.MULTILINE,
)
# checked on the text because trimesh processes each solid of a multi-solid file itself
_NON_FINITE_VERTEX = re.compile(rb"^[ \t]*vertex\b[^\n]*\b(?:nan|inf)", re.IGNORECASE | re.MULTILINE)


def _checked_ascii_stl(data: bytes) -> bytes:
    """Check an ASCII STL's bytes and prepare them for trimesh.

    - CR-only (classic Mac) line endings are valid, and PrusaSlicer reads them, but
      trimesh's reader splits on LF only: they become LFs.
    - trimesh keeps only solid...endsolid blocks, so a cut file would silently lose its
      last block: a missing `endsolid` is reported as truncation instead.
    - trimesh reads all numbers after "vertex" as one stream, so a line with 2 numbers
      followed by one with 4 would silently shift every later coordinate: each vertex line
      must hold exactly 3 values.
    trimesh reads an ASCII STL whole anyway, so these passes add no extra I/O.
    """
    if b"\r" in data and b"\n" not in data:
        log.debug("ASCII STL uses CR-only line endings; converting for the parser")
        data = data.replace(b"\r", b"\n")
    if len(_SOLID.findall(data)) > len(_ENDSOLID.findall(data)):
        raise TruncatedMeshError("the ASCII STL ends without 'endsolid': it is truncated")
    bad = _BAD_VERTEX.search(data)
    if bad is not None:
        line = data.count(b"\n", 0, bad.start()) + 1
        raise NotAMeshError(f"line {line:,} of the ASCII STL is a vertex without exactly 3 coordinates")
    if _NON_FINITE_VERTEX.search(data):
        raise _non_finite_error(MeshFormat.STL_ASCII)
    return data


def _refuse_malformed(mesh: trimesh.Trimesh, fmt: MeshFormat) -> None:
    """trimesh's OBJ reader can return (n, 2) vertices for lines with two coordinates, and
    every later measure assumes (n, 3) vertices and (m, 3) in-range faces."""
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise NotAMeshError(f"the {_FORMAT_NAME[fmt]} file has vertices without 3 coordinates")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        raise NotAMeshError(f"the {_FORMAT_NAME[fmt]} file has faces that refer to missing vertices")


def _refuse_non_finite(mesh: trimesh.Trimesh, fmt: MeshFormat) -> None:
    if not np.isfinite(mesh.vertices).all():
        raise _non_finite_error(fmt)


def _non_finite_error(fmt: MeshFormat) -> NotAMeshError:
    return NotAMeshError(f"the {_FORMAT_NAME[fmt]} file has vertices with invalid coordinates (NaN or infinity)")


def _to_millimetres(mesh: trimesh.Trimesh, units: str | None) -> None:
    """Scale `mesh` in place from the file's declared `units` to mm and record them."""
    mesh.metadata[SOURCE_UNITS_KEY] = units
    if units:
        try:
            factor = trimesh.units.unit_conversion(units, MESH_UNITS)
        except Exception as exc:
            raise NotAMeshError(f"the file declares an unknown unit {units!r}") from exc
        if factor != 1.0:
            log.debug("scaling mesh from %s to mm by %g", units, factor)
            mesh.apply_scale(factor)
    mesh.units = MESH_UNITS


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _explain_failure(path: Path, fmt: MeshFormat, exc: Exception) -> DesignFileError:
    """Turn a parser exception into the most specific DesignFileError we can justify."""
    name = _FORMAT_NAME[fmt]
    if fmt is MeshFormat.THREEMF:
        diagnosis = _diagnose_3mf(path)
        if diagnosis is not None:
            return diagnosis
    return NotAMeshError(f"the {name} file could not be read: {_one_line(exc)}")


def _empty_mesh_error(path: Path, fmt: MeshFormat) -> EmptyMeshError:
    if fmt is MeshFormat.THREEMF:
        diagnosis = _diagnose_3mf(path)
        if isinstance(diagnosis, EmptyMeshError):
            return diagnosis
    return EmptyMeshError(f"the {_FORMAT_NAME[fmt]} file holds no triangles")


def _diagnose_3mf(path: Path) -> DesignFileError | None:
    """Find why a 3MF failed to load or loaded empty, by streaming its model part.

    Only called on the failure path, so the second read costs nothing for good files.
    Reports a model without triangles (e.g. beam-lattice only) or without the `<build>`
    element that says what to print; None when neither explains it.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            model_name = next(
                (n for n in archive.namelist() if n.lower().lstrip("/") == "3d/3dmodel.model"),
                None,
            )
            if model_name is None:
                return NotAMeshError("the 3MF file has no 3D/3dmodel.model part, the model this reader expects")
            triangles = beams = builds = 0
            with archive.open(model_name) as model:
                # no entity resolution, no network: a hostile XML cannot reach out or expand
                for _event, element in etree.iterparse(model, events=("end",), resolve_entities=False, no_network=True):
                    tag = etree.QName(element).localname if isinstance(element.tag, str) else ""
                    if tag == "triangle":
                        triangles += 1
                    elif tag == "beam":
                        beams += 1
                    elif tag == "build":
                        builds += 1
                    element.clear(keep_tail=True)  # keep memory flat on big models
                    if triangles and builds:
                        break
    except (
        zipfile.BadZipFile,
        etree.XMLSyntaxError,
        OSError,
        KeyError,
        zlib.error,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as exc:
        return NotAMeshError(f"the 3MF model could not be read: {_one_line(exc)}")
    if triangles == 0:
        if beams:
            return EmptyMeshError(
                f"the 3MF file holds no triangles, only a beam lattice ({beams:,} beams), which cofab cannot slice"
            )
        return EmptyMeshError("the 3MF file holds no triangles")
    if builds == 0:
        return NotAMeshError("the 3MF file has no <build> element, so it does not say which objects to make")
    return None
