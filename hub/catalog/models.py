from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class Design(SQLModel, table=True):
    __tablename__ = "designs"

    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=200)
    description: str = ""
    licence: str = Field(max_length=64)
    author: str = Field(max_length=200)
    process: str = Field(default="FDM", max_length=16)
    materials: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    owner_token_id: int = Field(foreign_key="api_tokens.id")
    created_at: float


class DesignFile(SQLModel, table=True):
    """One file of a design, stored by content hash, with its analysis at upload time."""

    __tablename__ = "design_files"

    id: int | None = Field(default=None, primary_key=True)
    design_id: str = Field(foreign_key="designs.id", index=True, max_length=40)
    filename: str = Field(max_length=255)
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int
    format: str = Field(max_length=16)
    faces: int
    vertices: int
    watertight: bool
    volume_mm3: float | None = None
    size_x_mm: float
    size_y_mm: float
    size_z_mm: float
    analysis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float
