"""API shapes of the catalogue: table models are never returned directly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROCESSES = ("FDM", "SLA", "laser", "CNC")


class DesignMeta(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    licence: str = Field(default="CC-BY-SA-4.0", min_length=1, max_length=64,
                         description="SPDX licence id of the design.")
    process: str = Field(default="FDM", pattern="^(FDM|SLA|laser|CNC)$")
    materials: list[str] = Field(default_factory=lambda: ["PLA"], max_length=20)


class DesignFilePublic(BaseModel):
    id: int
    filename: str
    sha256: str
    size_bytes: int
    format: str
    faces: int
    vertices: int
    watertight: bool
    volume_mm3: float | None
    size_mm: tuple[float, float, float]
    analysis: dict[str, Any]


class DesignPublic(BaseModel):
    id: str
    title: str
    description: str
    licence: str
    author: str
    process: str
    materials: list[str]
    created_at: float
    files: list[DesignFilePublic]
