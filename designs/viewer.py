"""The mesh a browser's 3D viewer loads: binary glTF (GLB).

Why GLB: every web viewer (three.js, model-viewer, Babylon) reads it natively, it is one
compact binary file (an STL of the same mesh is about 3x larger: no shared vertices), and
trimesh writes it without extra dependencies.

Units: glTF's unit is the metre (glTF 2.0 spec, 3.4), so the mm mesh is scaled by 0.001;
a viewer then shows a 20 mm cube 2 cm wide, and its measuring tools are right. The mesh is
`load_mesh`'s: one merged mesh in the file's designed orientation, Z up. glTF's up axis is
+Y, so the mesh is turned -90° about X (Z up -> Y up) as glTF exporters of CAD tools do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from designs.formats import MeshFormat, sniff_file

__all__ = ["GLTF_METRES_PER_MM", "viewer_mesh"]

log = logging.getLogger(__name__)

#: glTF coordinates are metres; cofab's meshes are millimetres.
GLTF_METRES_PER_MM = 0.001

# Z up (cofab, slicers) -> Y up (glTF): rotate -90 degrees about X
_Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def viewer_mesh(path: Path, fmt: MeshFormat | None = None) -> bytes:
    """The mesh file at `path` as GLB bytes (metres, Y up).

    fmt: the format if already sniffed. Raises the loaders' DesignFileError subclasses for
    a file that cannot be read.
    """
    import trimesh

    from designs.loading import load_mesh

    path = Path(path)
    fmt = sniff_file(path) if fmt is None else MeshFormat(fmt)
    mesh = load_mesh(path, fmt).copy()
    mesh.apply_transform(_Z_UP_TO_Y_UP)
    mesh.apply_scale(GLTF_METRES_PER_MM)
    mesh.units = "meters"
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh), include_normals=True)
