"""Errors raised for design files that cannot be accepted.

Every error here is the *file's* fault, not the program's: the hub turns them into a 4xx
answer and the node agent into a declined job, both showing `str(error)` to a person. So each
message is one sentence a designer can act on, and never a parser's traceback. `code` is a
stable machine-readable name for API clients and metrics.

All of them derive from `ValueError` so code that only knows "bad input" can still catch
them, and from `DesignFileError` so callers can tell them apart from programming errors.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "DesignFileError",
    "EmptyFileError",
    "EmptyMeshError",
    "EmptyOutlineError",
    "MeshTooLargeError",
    "NotAMeshError",
    "NotAnOutlineError",
    "TruncatedMeshError",
    "UnsafeFilenameError",
    "UnsupportedFormatError",
]


class DesignFileError(ValueError):
    """Base class: a design file (or its name) that cofab refuses, with a reason."""

    code: ClassVar[str] = "design_file_error"


class EmptyFileError(DesignFileError):
    """The file has 0 bytes (often a failed export or an interrupted upload)."""

    code = "empty_file"


class NotAMeshError(DesignFileError):
    """The content is not a mesh cofab can read: an image, random bytes, or a mesh file
    whose content the parser rejects."""

    code = "not_a_mesh"


class TruncatedMeshError(DesignFileError):
    """The file is a mesh format but stops early (a cut download or upload)."""

    code = "truncated_mesh"


class EmptyMeshError(DesignFileError):
    """The file parses but holds no triangles (e.g. a 3MF beam lattice, an empty STL)."""

    code = "empty_mesh"


class MeshTooLargeError(DesignFileError):
    """The file would expand beyond what we are willing to hold in memory (e.g. a 3MF
    whose ZIP parts inflate to gigabytes)."""

    code = "mesh_too_large"


class UnsafeFilenameError(DesignFileError):
    """A file name that could escape a folder, hide itself or confuse a terminal."""

    code = "unsafe_filename"


class UnsupportedFormatError(DesignFileError):
    """A recognisable file format that cofab does not take (yet), e.g. STEP or PLY."""

    code = "unsupported_format"


class NotAnOutlineError(NotAMeshError):
    """The content is not a 2D outline cofab can read (a damaged SVG or DXF).

    A subclass of NotAMeshError so callers that handle "content cofab cannot read" for
    meshes handle outlines the same way; `code` tells them apart."""

    code = "not_an_outline"


class EmptyOutlineError(EmptyMeshError):
    """The SVG or DXF parses but holds nothing to cut (no visible paths)."""

    code = "empty_outline"
