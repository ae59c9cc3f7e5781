"""Catalog limits: `Settings.catalog`, read from the environment with the hub's settings at
start-up (prefix `COFAB_CATALOG_`, e.g. `COFAB_CATALOG_MAX_FACES`).

Why limits beside the upload size cap: bytes received are cheap (streamed to disk), but
analysing a mesh holds it in memory several times over. A 2 GB binary STL is 43 million
triangles, far past anything a fab lab slices, and loading it would take gigabytes; such
files are refused after streaming with a reason, before any mesh is loaded.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class CatalogSettings(BaseModel):
    max_faces: int = Field(5_000_000, description="Meshes with more triangles are refused before analysis (413).")
    max_text_mesh_bytes: int = Field(
        256 * 1024**2,
        description="ASCII STL and OBJ files, and 3MF archives once inflated, larger than this are "
        "refused before analysis (413): their parsers hold the whole text in memory.",
    )
    upload_ttl_s: float = Field(24 * 3600.0, description="A staged upload not used in a version expires after this.")
    max_manifest_bytes: int = Field(256 * 1024, description="Largest OKH manifest accepted.")
