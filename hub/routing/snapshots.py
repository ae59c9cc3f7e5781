"""Immutable snapshots the matcher works on: labs and machines as the registry holds them, the
job to place, and each hard check's outcome. Snapshots are replaced, never mutated, so a match
never sees half an update."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MachineView:
    node_id: str
    machine_id: str
    process: str
    build_sorted_mm: tuple[float, float, float]
    build_mm: tuple[float, float, float]
    materials: frozenset[str]
    """Case-folded material names the lab works on this machine."""
    colours: frozenset[str] = frozenset()
    nozzle_mm: float | None = None
    volumetric_rate_mm3_s: float = 8.0
    queue_limit: int = 5
    state: str = "unknown"
    queue_length: int = 0
    material_loaded: str | None = None
    colour_loaded: str | None = None
    eta_free_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LabView:
    node_id: str
    name: str
    lat: float
    lon: float
    membership: str
    online: bool
    machines: tuple[MachineView, ...]
    opening_hours: str = "24/7"
    timezone: str = "UTC"
    auto_accept: bool = True
    accepts_unpaid: bool = True
    currency: str = "EUR"
    material_price_per_kg: dict[str, float] = field(default_factory=dict)
    machine_rate_per_hour: float = 6.0
    labour_per_job: float = 3.0


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What one job needs. `size_mm` is the part's bounding box as designed."""

    process: str
    material: str
    size_mm: tuple[float, float, float]
    lat: float
    lon: float
    volume_mm3: float | None = None
    colour: str | None = None
    nozzle_mm: float | None = None
    lead_time_h: float | None = None
    """The maker needs the part within this many hours; None: no deadline."""
    paid: bool = True
    licence: str = ""
    commercial_use_allowed: bool = True

    @property
    def size_sorted_mm(self) -> tuple[float, float, float]:
        small, mid, large = sorted(self.size_mm)
        return (small, mid, large)


@dataclass(frozen=True, slots=True)
class Check:
    """One hard check of one lab or machine, with the sentence a maker or lab reads."""

    name: str
    passed: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "reason": self.reason}
