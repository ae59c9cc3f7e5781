"""The design-file domain shared by the hub and the fab node agents.

Pure functions over files and arrays, no service imports (import-linter enforces that
designs imports none of hub, fabnode, firmware_bridge, cofab_wire):
- `formats`: which mesh format a file holds, from its content;
- `filenames`: which file names are safe to keep;
- `loading`: one trimesh mesh in mm from any supported file, or a clear error;
- `analysis`: size, volume, closedness, bodies;
- `fit`: whether a part fits a build volume;
- `errors`: the `DesignFileError` family, one sentence each for people.
"""

from designs.analysis import MeshAnalysis, analyze_mesh, analyze_trimesh
from designs.errors import (
    DesignFileError,
    EmptyFileError,
    EmptyMeshError,
    MeshTooLargeError,
    NotAMeshError,
    TruncatedMeshError,
    UnsafeFilenameError,
    UnsupportedFormatError,
)
from designs.filenames import check_filename
from designs.fit import FitResult, fit_in_build_volume
from designs.formats import MeshFormat, extension_for, sniff_file, sniff_format
from designs.loading import load_mesh

__all__ = [
    "DesignFileError",
    "EmptyFileError",
    "EmptyMeshError",
    "FitResult",
    "MeshAnalysis",
    "MeshFormat",
    "MeshTooLargeError",
    "NotAMeshError",
    "TruncatedMeshError",
    "UnsafeFilenameError",
    "UnsupportedFormatError",
    "analyze_mesh",
    "analyze_trimesh",
    "check_filename",
    "extension_for",
    "fit_in_build_volume",
    "load_mesh",
    "sniff_file",
    "sniff_format",
]
