"""One entry point for "what kind of design file is this": a mesh or a 2D outline.

Why: the hub accepts both kinds on one upload route and must pick the right analysis from
the content alone. Outlines are recognised first because `designs.formats` refuses SVG and
DXF (as "not a mesh"); everything else goes to the mesh sniffer, which raises the
`DesignFileError` that explains what the file is instead.
"""

from __future__ import annotations

from pathlib import Path

from designs.formats import MeshFormat, sniff_format, sniff_path
from designs.outlines import OutlineFormat, sniff_outline

__all__ = ["sniff_any", "sniff_any_file"]


def sniff_any(head: bytes, size: int, filename: str | None = None) -> MeshFormat | OutlineFormat:
    """The format of a file from its first bytes (`SNIFF_BYTES`) and total size.

    filename: a tie-breaker only, as in `sniff_format`. Raises what `sniff_format` raises
    (EmptyFileError, NotAMeshError, UnsupportedFormatError, TruncatedMeshError) when the
    bytes are neither an outline nor a mesh.
    """
    if size > 0:
        outline = sniff_outline(head, filename)
        if outline is not None:
            return outline
    return sniff_format(head, size, filename)


def sniff_any_file(path: Path, filename: str | None = None) -> MeshFormat | OutlineFormat:
    """`sniff_any` on the file at `path`; for a 3MF, also checks the ZIP's table of
    contents (`check_3mf_container`) as `sniff_file` does."""
    return sniff_path(path, filename, sniff_any)
