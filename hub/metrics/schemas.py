"""API shapes of the city figures."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FiguresPublic(BaseModel):
    parts: int = Field(description="Parts made (completed jobs).")
    mass_kg: float
    orders_completed: int
    orders_within_radius: int
    parts_within_radius: int
    avoided_km: float = Field(description="Transport avoided, part-km.")
    avoided_tkm: float = Field(description="Transport avoided, tonne-km.")
    co2_kg: float = Field(description="CO2e avoided, kg.")
    labour_hours: float
    active_labs: int


class AssumptionsPublic(BaseModel):
    radius_km: float
    baseline_km: float
    emission_kg_per_tkm: float
    district_mode: str
    grid_deg: float
    privacy_grid_deg: float


class Summary(BaseModel):
    assumptions: AssumptionsPublic
    formulas: dict[str, str] = Field(description="How each figure is computed, in words.")
    since: float | None = Field(description="Period start (Unix seconds, inclusive), or none.")
    until: float | None = Field(description="Period end (Unix seconds, exclusive), or none.")
    member_labs: int = Field(description="Labs whose membership is active now.")
    total: FiguresPublic


class BreakdownRow(FiguresPublic):
    key: str = Field(description="District, month (YYYY-MM), `district|month`, or lab id.")
    district: str | None = None
    month: str | None = None
    name: str | None = None
    lat: float | None = None
    lon: float | None = None


class Breakdown(BaseModel):
    by: str
    assumptions: AssumptionsPublic
    rows: list[BreakdownRow]
