"""Repair what can be repaired safely, as a new file beside the original.

Why a derived file and never an in-place fix: the original is the designer's work and the
source of truth for attribution and versions; a repair is cofab's guess. The hub stores
`RepairResult.stl` as a derived file of the original's version, and a lab may choose it.

What is repaired (trimesh.repair, per body):
- faces whose winding disagrees with their neighbours are flipped to agree;
- a closed body whose faces all point inward is turned outside-out;
- holes whose rim is a simple triangle or quad are capped (trimesh fills only these:
  larger holes need a person, since a guessed surface can change the part);
- zero-area and duplicate faces are removed.
Nothing else: no remeshing, no self-intersection removal, no unit changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designs.analysis import MeshAnalysis, analyze_trimesh
from designs.formats import MeshFormat, sniff_file

__all__ = ["RepairResult", "repair_mesh"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RepairResult:
    """A repaired copy of a mesh.

    stl: the repaired mesh as binary STL bytes (mm).
    actions: what was done, one sentence each, e.g. "flipped 1 face to agree with its
      neighbours".
    analysis: the analysis of the repaired mesh (format STL_BINARY), so the hub can store
      it with the derived file without reading it again.
    """

    stl: bytes
    actions: tuple[str, ...]
    analysis: MeshAnalysis


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def repair_mesh(path: Path, fmt: MeshFormat | None = None) -> RepairResult | None:
    """Repair the mesh file at `path` where that is safe; None when there is nothing to
    repair or nothing the repairs can improve.

    fmt: the format if already sniffed. Raises the loaders' DesignFileError subclasses for a
    file that cannot be read at all. A result may still be imperfect (e.g. a large hole
    remains): its `analysis` says so, and it is returned only if it improved something.
    """
    import trimesh

    from designs.loading import load_mesh

    path = Path(path)
    fmt = sniff_file(path) if fmt is None else MeshFormat(fmt)
    mesh = load_mesh(path, fmt)
    before = analyze_trimesh(mesh, fmt)
    before_score = _score(before, _inward(mesh))
    if before_score == _CLEAN:
        return None
    actions: list[str] = []
    mesh = mesh.copy()

    degenerate = ~mesh.nondegenerate_faces()
    duplicate = ~mesh.unique_faces()
    remove = degenerate | duplicate
    if remove.any():
        mesh.update_faces(~remove)
        mesh.remove_unreferenced_vertices()
        parts = []
        if degenerate.any():
            parts.append(_plural(int(degenerate.sum()), "zero-area face"))
        if (duplicate & ~degenerate).any():
            parts.append(_plural(int((duplicate & ~degenerate).sum()), "duplicate face"))
        actions.append(f"removed {' and '.join(parts)}")

    if not before.winding_consistent or _inward(mesh):
        flipped_before = mesh.faces.copy()
        trimesh.repair.fix_normals(mesh, multibody=True)
        changed = int(np.count_nonzero((mesh.faces != flipped_before).any(axis=1)))
        if changed:
            actions.append(f"reoriented {_plural(changed, 'face')} so every body's faces point outward")

    if not mesh.is_watertight:
        faces_before = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)
        added = len(mesh.faces) - faces_before
        if added > 0:
            actions.append(f"capped small holes with {_plural(added, 'face')}")
            if not mesh.is_winding_consistent:
                trimesh.repair.fix_normals(mesh, multibody=True)

    if not actions:
        return None
    after = analyze_trimesh(mesh, MeshFormat.STL_BINARY)
    after_score = _score(after, _inward(mesh))
    # a repair must make something better and nothing worse (capping holes can create
    # non-manifold edges, removing a zero-area face can open a seam)
    if after_score == before_score or any(a > b for a, b in zip(after_score, before_score)):
        log.info("repair of %s improved nothing measurable; not storing a copy", path)
        return None
    stl = trimesh.exchange.stl.export_stl(mesh)
    return RepairResult(stl=stl, actions=tuple(actions), analysis=after)


def _inward(mesh) -> bool:
    """A closed, consistently wound mesh with negative volume: inside-out."""
    return bool(mesh.is_watertight and mesh.is_winding_consistent and mesh.volume < 0)


def _score(analysis: MeshAnalysis, inward: bool) -> tuple[int, ...]:
    """Counts of each defect; `_CLEAN` is none."""
    return (
        int(not analysis.winding_consistent),
        analysis.nonmanifold_edges,
        analysis.boundary_edges,
        analysis.degenerate_faces,
        int(inward),
    )


_CLEAN = (0, 0, 0, 0, 0)
