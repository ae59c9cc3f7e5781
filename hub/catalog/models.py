"""Catalog tables. A design holds its metadata and lineage; each published version is an
immutable set of files (by content hash), each file a part with a quantity.

`DesignFile` keeps the columns routing and orders read (design id, name, hash, size, bounding
box), so a job can be made from a file row alone. Derived files (repaired mesh, thumbnail,
viewer GLB) are keyed by the source content hash in `FileDerivative`: the same bytes uploaded
twice share them, and an original is never replaced.

The full-text index (`design_search`) is not a model: it is an FTS5 table on SQLite and a
tsvector table on PostgreSQL, created by migration 0002 and kept by `hub.catalog.search`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Design(SQLModel, table=True):
    """A design in the commons. `author` is the first author (shown in offers and G-code
    headers); `co_authors` the others; the owner is the token that may publish versions.

    fit_*_mm: the latest version's parts' sorted extents, each the maximum over its parts
    (smallest, middle, largest axis). Every part fits a box iff these fit its sorted sides,
    so "fits in X x Y x Z" is three indexed comparisons.
    """

    __tablename__ = "designs"

    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=200)
    description: str = ""
    licence: str = Field(index=True, max_length=64)
    author: str = Field(max_length=200)
    co_authors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    process: str = Field(default="FDM", index=True, max_length=16)
    materials: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    owner_token_id: int = Field(foreign_key="api_tokens.id")
    latest_version: int = 0
    fit_small_mm: float | None = None
    fit_mid_mm: float | None = None
    fit_large_mm: float | None = None
    source_repo: str | None = Field(default=None, max_length=500)
    documentation_language: str = Field(default="en", max_length=35)
    created_at: float = Field(index=True)
    updated_at: float | None = None


class DesignVersion(SQLModel, table=True):
    """A published version: its files never change. `label` is the version as people name
    it (an OKH manifest's "2.5"); `number` counts from 1."""

    __tablename__ = "design_versions"
    __table_args__ = (UniqueConstraint("design_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    design_id: str = Field(foreign_key="designs.id", index=True, max_length=40)
    number: int
    label: str = Field(max_length=64)
    note: str = ""
    published_by_token_id: int = Field(foreign_key="api_tokens.id")
    created_at: float


class DesignFile(SQLModel, table=True):
    """One part of a version: a file stored by content hash, its quantity, and its analysis at
    upload time (JSON as `designs` returned it, plus the columns search and routing filter on).

    kind: "mesh" (STL, 3MF, OBJ) or "outline" (SVG, DXF for laser and CNC); an outline's
    size_z_mm is 0 and it has no faces.
    """

    __tablename__ = "design_files"

    id: int | None = Field(default=None, primary_key=True)
    design_id: str = Field(foreign_key="designs.id", index=True, max_length=40)
    version_id: int = Field(foreign_key="design_versions.id", index=True)
    part_name: str = Field(default="", max_length=200)
    quantity: int = 1
    filename: str = Field(max_length=255)
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int
    kind: str = Field(default="mesh", max_length=16)
    format: str = Field(max_length=16)
    faces: int | None = None
    vertices: int | None = None
    watertight: bool | None = None
    volume_mm3: float | None = None
    size_x_mm: float
    size_y_mm: float
    size_z_mm: float
    verdict: str | None = Field(default=None, max_length=16)
    analysis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float


class FileDerivative(SQLModel, table=True):
    """A file made from a stored file: `repaired` mesh, `thumbnail` PNG or `viewer` GLB.
    Stored in the same content store; linked to its source by hash (derived_from)."""

    __tablename__ = "file_derivatives"
    __table_args__ = (UniqueConstraint("source_sha256", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    source_sha256: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    size_bytes: int
    media_type: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float


class Upload(SQLModel, table=True):
    """A file received and analysed, waiting to be named in a version (or an OKH import).
    Its bytes are already in the content store; unused uploads expire."""

    __tablename__ = "uploads"

    id: str = Field(primary_key=True, max_length=40)
    owner_token_id: int = Field(foreign_key="api_tokens.id", index=True)
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    size_bytes: int
    kind: str = Field(max_length=16)
    format: str = Field(max_length=16)
    analysis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float
    expires_at: float = Field(index=True)


class DesignRemix(SQLModel, table=True):
    """`design_id` is a remix of `parent_id`; `position` keeps the order the designer gave."""

    __tablename__ = "design_remixes"
    __table_args__ = (Index("ix_design_remixes_parent_id", "parent_id"),)

    design_id: str = Field(foreign_key="designs.id", primary_key=True, max_length=40)
    parent_id: str = Field(foreign_key="designs.id", primary_key=True, max_length=40)
    position: int = 0


class DesignTag(SQLModel, table=True):
    """Tags (lower case) for filtering; the design row keeps them for display."""

    __tablename__ = "design_tags"
    __table_args__ = (Index("ix_design_tags_tag", "tag", "design_id"),)

    design_id: str = Field(foreign_key="designs.id", primary_key=True, max_length=40)
    tag: str = Field(primary_key=True, max_length=64)


class DesignMaterial(SQLModel, table=True):
    """Recommended materials (case-folded) for filtering."""

    __tablename__ = "design_materials"
    __table_args__ = (Index("ix_design_materials_material", "material", "design_id"),)

    design_id: str = Field(foreign_key="designs.id", primary_key=True, max_length=40)
    material: str = Field(primary_key=True, max_length=64)
