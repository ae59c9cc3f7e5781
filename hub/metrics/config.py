"""Assumptions behind the city figures: `Settings.city`, read from the environment with the
hub's settings at start-up (prefix `COFAB_CITY_`, e.g. `COFAB_CITY_RADIUS_KM`).

They are assumptions, not measurements, so each one is shown beside the figures it changes
(on the dashboard, in the JSON API and in the exports) and can be overridden per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

DistrictMode = Literal["city", "grid"]


@dataclass(frozen=True, slots=True)
class Assumptions:
    """The numbers a reader needs to recompute every figure by hand."""

    radius_km: float = 10.0
    baseline_km: float = 1000.0
    emission_kg_per_tkm: float = 0.1
    district_mode: DistrictMode = "city"
    grid_deg: float = 0.05
    privacy_grid_deg: float = 0.01

    def as_dict(self) -> dict:
        return {
            "radius_km": self.radius_km,
            "baseline_km": self.baseline_km,
            "emission_kg_per_tkm": self.emission_kg_per_tkm,
            "district_mode": self.district_mode,
            "grid_deg": self.grid_deg,
            "privacy_grid_deg": self.privacy_grid_deg,
        }


class MetricsSettings(BaseModel):
    radius_km: float = Field(
        10.0,
        gt=0,
        description="An order counts as fulfilled locally if every part was made "
        "within this great-circle distance of the maker.",
    )
    baseline_km: float = Field(
        1000.0,
        ge=0,
        description="How far an imported part travels to the maker (the baseline a locally made part replaces).",
    )
    emission_kg_per_tkm: float = Field(
        0.1,
        ge=0,
        description="kg CO2e per tonne-km of freight for that baseline (road freight averages are of this order).",
    )
    district_mode: DistrictMode = Field(
        "city",
        description="`city`: the lab's declared city (OKW locality); "
        "`grid`: a cell of GRID_DEG degrees around the lab.",
    )
    grid_deg: float = Field(
        0.05, gt=0, le=10, description="Cell size for district_mode=grid and for labs without a city."
    )
    privacy_grid_deg: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Makers' places are rounded to this grid in "
        "maps and exports (about 1 km), never published exactly.",
    )

    def assumptions(self) -> Assumptions:
        return Assumptions(
            radius_km=self.radius_km,
            baseline_km=self.baseline_km,
            emission_kg_per_tkm=self.emission_kg_per_tkm,
            district_mode=self.district_mode,
            grid_deg=self.grid_deg,
            privacy_grid_deg=self.privacy_grid_deg,
        )
