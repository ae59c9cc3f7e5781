"""The design-file domain shared by the hub and the fab node agents.

Pure functions over files and arrays, no service imports (import-linter enforces that
designs imports none of hub, fabnode, firmware_bridge, cofab_wire):
- `formats`: which mesh format a file holds, from its content; `sniffing`: mesh or outline;
- `filenames`: which file names are safe to keep;
- `loading`: one trimesh mesh in mm from any supported file, or a clear error;
- `stl_binary`: the vectorised binary-STL reader (no trimesh) for large files;
- `meshstats`: edge topology, areas, volume, bodies, overhangs over plain arrays;
- `analysis`: `MeshAnalysis` from either path; `printability`: the verdict and its reasons;
- `repair`: a repaired copy of a fixable mesh; `thumbnail`: a headless PNG; `viewer`: GLB;
- `outlines`: 2D SVG/DXF cut outlines for lasers and CNC routers;
- `fit`: whether a part fits a build volume;
- `errors`: the `DesignFileError` family, one sentence each for people;
- `oneshot`: process settings for one-shot analysis processes (`analysis_cli`).

Names are imported on first use (PEP 562): `import designs` stays cheap, and a process that
only analyses binary STLs (`designs.stl_binary`) never pays for importing trimesh.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "MeshAnalysis": "designs.analysis",
    "analyze_indexed": "designs.analysis",
    "analyze_mesh": "designs.analysis",
    "analyze_trimesh": "designs.analysis",
    "DesignFileError": "designs.errors",
    "EmptyFileError": "designs.errors",
    "EmptyMeshError": "designs.errors",
    "EmptyOutlineError": "designs.errors",
    "MeshTooLargeError": "designs.errors",
    "NotAMeshError": "designs.errors",
    "NotAnOutlineError": "designs.errors",
    "TruncatedMeshError": "designs.errors",
    "UnsafeFilenameError": "designs.errors",
    "UnsupportedFormatError": "designs.errors",
    "check_filename": "designs.filenames",
    "FitResult": "designs.fit",
    "fit_in_build_volume": "designs.fit",
    "MeshFormat": "designs.formats",
    "extension_for": "designs.formats",
    "sniff_file": "designs.formats",
    "sniff_format": "designs.formats",
    "load_mesh": "designs.loading",
    "Outline": "designs.outlines",
    "OutlineFormat": "designs.outlines",
    "OutlinePath": "designs.outlines",
    "load_outline": "designs.outlines",
    "sniff_outline": "designs.outlines",
    "Verdict": "designs.printability",
    "RepairResult": "designs.repair",
    "repair_mesh": "designs.repair",
    "sniff_any": "designs.sniffing",
    "sniff_any_file": "designs.sniffing",
    "render_thumbnail": "designs.thumbnail",
    "viewer_mesh": "designs.viewer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'designs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from designs.analysis import MeshAnalysis, analyze_indexed, analyze_mesh, analyze_trimesh
    from designs.errors import (
        DesignFileError,
        EmptyFileError,
        EmptyMeshError,
        EmptyOutlineError,
        MeshTooLargeError,
        NotAMeshError,
        NotAnOutlineError,
        TruncatedMeshError,
        UnsafeFilenameError,
        UnsupportedFormatError,
    )
    from designs.filenames import check_filename
    from designs.fit import FitResult, fit_in_build_volume
    from designs.formats import MeshFormat, extension_for, sniff_file, sniff_format
    from designs.loading import load_mesh
    from designs.outlines import (
        Outline,
        OutlineFormat,
        OutlinePath,
        load_outline,
        sniff_outline,
    )
    from designs.printability import Verdict
    from designs.repair import RepairResult, repair_mesh
    from designs.sniffing import sniff_any, sniff_any_file
    from designs.thumbnail import render_thumbnail
    from designs.viewer import viewer_mesh
