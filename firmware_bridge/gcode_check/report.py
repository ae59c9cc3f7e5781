"""What a safety check found: the verdict, each violation with its line, and the estimates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_VIOLATIONS = 1000
"""Violations kept with their line and reason; the count goes on past it (a 100 MB file
whose every move is out of bounds must not make a 100 MB report)."""


@dataclass(frozen=True)
class Violation:
    """One refused line: `line` is 1-based, `kind` one of out_of_bounds, temperature,
    forbidden, malformed, unsupported, power."""

    line: int
    kind: str
    reason: str
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind, "reason": self.reason, "text": self.text}


@dataclass
class CheckReport:
    """The result of checking one program against one machine profile."""

    machine: str
    dialect: str
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    warnings: list[str] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0
    bounds_min_mm: list[float] = field(default_factory=lambda: [math.nan] * 3)
    bounds_max_mm: list[float] = field(default_factory=lambda: [math.nan] * 3)
    max_temperatures_c: dict[str, float] = field(default_factory=dict)
    max_s: float | None = None
    time_s: float = 0.0
    filament_mm: float = 0.0
    filament_g: float = 0.0
    seconds: float = 0.0
    fast_path: bool = True

    @property
    def safe(self) -> bool:
        return self.violation_count == 0

    @property
    def verdict(self) -> str:
        return "safe" if self.safe else "refused"

    def add(self, violation: Violation) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(violation)

    def to_dict(self) -> dict[str, Any]:
        def clean(values: list[float]) -> list[float | None]:
            return [None if math.isnan(v) else round(v, 4) for v in values]

        return {
            "verdict": self.verdict,
            "machine": self.machine,
            "dialect": self.dialect,
            "violation_count": self.violation_count,
            "violations": [v.to_dict() for v in self.violations],
            "violations_listed": len(self.violations),
            "warnings": self.warnings,
            "bounds_mm": {"min": clean(self.bounds_min_mm), "max": clean(self.bounds_max_mm)},
            "max_temperatures_c": self.max_temperatures_c,
            "max_s": self.max_s,
            "estimate": {
                "time_s": round(self.time_s, 1),
                "filament_mm": round(self.filament_mm, 1),
                "filament_g": round(self.filament_g, 2),
                "method": "distance / feed rate for every move; acceleration, jerk and "
                "firmware look-ahead ignored, so real jobs take longer",
            },
            "lines": self.lines,
            "bytes": self.bytes,
            "check_seconds": round(self.seconds, 3),
        }
