"""Test data for designs/: meshes are generated here with trimesh and written in every
format we read, under names chosen by each test (hash-like names without an extension by
default, as the node stores downloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh

from designs import MeshFormat

MeshWriter = Callable[..., Path]


def encode(mesh: trimesh.Trimesh | trimesh.Scene, fmt: MeshFormat) -> bytes:
    """The bytes of `mesh` in `fmt`, written by trimesh's exporters."""
    if fmt is MeshFormat.STL_BINARY:
        return trimesh.exchange.stl.export_stl(mesh)
    if fmt is MeshFormat.STL_ASCII:
        return trimesh.exchange.stl.export_stl_ascii(mesh).encode()
    if fmt is MeshFormat.OBJ:
        return trimesh.exchange.obj.export_obj(mesh).encode()
    if fmt is MeshFormat.THREEMF:
        return trimesh.exchange.threemf.export_3MF(mesh)
    raise AssertionError(fmt)


@pytest.fixture
def write_mesh(tmp_path: Path) -> MeshWriter:
    """write_mesh(mesh, fmt, name="3f2a9c...") -> path of the written file."""

    def write(mesh: trimesh.Trimesh | trimesh.Scene, fmt: MeshFormat, name: str | None = None) -> Path:
        path = tmp_path / (name or f"blob-{fmt}")
        path.write_bytes(encode(mesh, fmt))
        return path

    return write


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[bytes, str], Path]:
    def write(data: bytes, name: str = "blob") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def box20() -> trimesh.Trimesh:
    """A 20 mm cube centred on the origin: 12 faces, 8 vertices, 8000 mm³, 2400 mm²."""
    return trimesh.creation.box(extents=(20.0, 20.0, 20.0))
