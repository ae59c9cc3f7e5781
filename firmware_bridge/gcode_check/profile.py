"""A machine's safety limits, read from a TOML profile (see examples/machines/).

The check needs only what protects the machine: its work volume, heater limits, laser or
spindle limits, the commands it must never receive, and the G-code dialect it speaks. Plain
dataclasses and tomllib keep firmware_bridge free of heavier dependencies.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIALECTS = ("marlin", "klipper", "grbl")

# Settings and firmware commands a job file has no business sending. Each reason is what
# the lab operator reads next to the refused line.
_MARLIN_FORBIDDEN: dict[str, str] = {
    "M92": "sets steps per mm (firmware calibration)",
    "M206": "changes the home offsets",
    "M301": "sets hotend PID values",
    "M303": "runs a PID autotune (heats without supervision and can save the result)",
    "M304": "sets bed PID values",
    "M428": "sets home offsets from the current position",
    "M500": "saves settings to EEPROM",
    "M501": "reloads settings from EEPROM",
    "M502": "resets settings to factory defaults",
    "M504": "validates/writes EEPROM contents",
    "M665": "changes delta kinematics",
    "M666": "changes endstop adjustments",
    "M851": "changes the probe offset",
    "M852": "changes the skew correction",
    "M906": "changes stepper motor currents",
    "M907": "changes stepper motor currents",
    "M913": "changes hybrid-threshold settings",
    "M914": "changes sensorless-homing sensitivity",
    "M997": "starts a firmware update",
    "M30": "deletes a file on the SD card in Marlin (end a program with M2 or M84)",
}
_KLIPPER_FORBIDDEN: dict[str, str] = {
    **{k: v for k, v in _MARLIN_FORBIDDEN.items() if k != "M30"},
    "SAVE_CONFIG": "rewrites printer.cfg and restarts the firmware",
    "PID_CALIBRATE": "runs a PID calibration (heats without supervision)",
    "FIRMWARE_RESTART": "restarts the firmware in the middle of a job",
    "RESTART": "restarts the host software in the middle of a job",
    "SET_KINEMATIC_POSITION": "overrides the known position, defeating the work-volume limits",
    "FORCE_MOVE": "moves a stepper without limit checks",
    "SET_STEPPER_ENABLE": "switches steppers without limit checks",
    "SET_TMC_CURRENT": "changes stepper motor currents",
}
_GRBL_FORBIDDEN: dict[str, str] = {
    "$=": "writes a GRBL setting ($N=value)",
    "$RST": "resets GRBL settings or offsets",
    "$N": "writes a GRBL startup block ($Nx=...)",
    "$I=": "writes the GRBL build info",
    "$X": "unlocks GRBL's alarm lock without a person checking the machine",
    "$SLP": "puts GRBL to sleep in the middle of a job",
    "G10": "writes work coordinate offsets to GRBL's EEPROM (G10 L2/L20)",
    "G28.1": "stores a new G28 position in GRBL's EEPROM",
    "G30.1": "stores a new G30 position in GRBL's EEPROM",
}
DEFAULT_FORBIDDEN: dict[str, dict[str, str]] = {
    "marlin": _MARLIN_FORBIDDEN,
    "klipper": _KLIPPER_FORBIDDEN,
    "grbl": _GRBL_FORBIDDEN,
}


class ProfileError(ValueError):
    """A machine profile that cannot be used: unreadable, bad TOML, or a bad value."""


@dataclass(frozen=True)
class Material:
    """How to cut one material on a laser: power as a percent of `max_power_s`, feed, passes."""

    name: str
    power_percent: float
    speed_mm_min: float
    passes: int = 1
    kerf_mm: float = 0.0
    mode: str = "M4"
    """M4 (dynamic power, GRBL laser mode) scales power with speed; M3 keeps it constant."""


@dataclass(frozen=True)
class MachineProfile:
    """Everything the safety check and the job paths need to know about one machine.

    Coordinates are in the program's coordinate system, in mm: for printers the bed, for
    CNC routers and lasers the work coordinates the operator zeroes on the stock.
    """

    name: str
    dialect: str
    process: str = "FDM"
    min_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_mm: tuple[float, float, float] = (200.0, 200.0, 200.0)
    hotend_max_c: float | None = None
    bed_max_c: float | None = None
    chamber_max_c: float | None = None
    max_s: float | None = None
    """Highest S a program may ask for: laser power (GRBL $30) or spindle speed."""
    forbidden: Mapping[str, str] = field(default_factory=dict)
    """Command (M500, SAVE_CONFIG, $=, ...) to the reason it is refused."""
    filament_diameter_mm: float = 1.75
    filament_density_g_cm3: float = 1.24
    default_feed_mm_min: float = 1500.0
    rapid_feed_mm_min: float | None = None
    """G0 speed for the estimate; None means G0 moves at the current F (Marlin, Klipper)."""
    max_feed_mm_min: float | None = None
    home_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    materials: Mapping[str, Material] = field(default_factory=dict)
    source: Path | None = None

    @property
    def size_mm(self) -> tuple[float, float, float]:
        return tuple(b - a for a, b in zip(self.min_mm, self.max_mm, strict=True))  # type: ignore[return-value]

    def material(self, name: str) -> Material:
        key = name.strip().lower()
        for material in self.materials.values():
            if material.name.lower() == key:
                return material
        known = ", ".join(sorted(self.materials)) or "none"
        raise ProfileError(f"{self.name} has no material {name!r}; it knows: {known}")


def load_profile(path: Path | str) -> MachineProfile:
    """Read a machine profile TOML file; `ProfileError` says what is wrong and where."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"machine profile {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read machine profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML: {exc}") from None
    try:
        return profile_from_dict(raw, source=path)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def profile_from_dict(raw: Mapping[str, Any], source: Path | None = None) -> MachineProfile:
    """Build a profile from parsed TOML (also used by tests and the node's config)."""
    dialect = str(raw.get("dialect", "")).lower()
    if dialect not in DIALECTS:
        raise ProfileError(f"dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
    volume = _table(raw, "work_volume")
    min_mm = _vector(volume, "min_mm", (0.0, 0.0, 0.0))
    max_mm = _vector(volume, "max_mm", None)
    if any(b <= a for a, b in zip(min_mm, max_mm, strict=True)):
        raise ProfileError(f"work_volume: max_mm {max_mm} must exceed min_mm {min_mm} on every axis")
    temps = _table(raw, "temperatures")
    commands = _table(raw, "commands")
    forbidden = dict(DEFAULT_FORBIDDEN[dialect])
    if "forbidden" in commands:
        forbidden = {
            _command_key(c): forbidden.get(_command_key(c), "forbidden on this machine")
            for c in _strings(commands, "forbidden")
        }
    for extra in _strings(commands, "extra_forbidden"):
        forbidden.setdefault(_command_key(extra), "forbidden on this machine")
    for allowed in _strings(commands, "allowed"):
        forbidden.pop(_command_key(allowed), None)
    estimate = _table(raw, "estimate")
    materials = {name.lower(): _material(name, entry) for name, entry in _table(raw, "materials").items()}
    return MachineProfile(
        name=str(raw.get("name") or (source.stem if source else "machine")),
        dialect=dialect,
        process=str(raw.get("process", "FDM")),
        min_mm=min_mm,
        max_mm=max_mm,
        hotend_max_c=_number(temps, "hotend_max_c"),
        bed_max_c=_number(temps, "bed_max_c"),
        chamber_max_c=_number(temps, "chamber_max_c"),
        max_s=_number(raw.get("laser") or raw.get("spindle") or {}, "max_s"),
        forbidden=forbidden,
        filament_diameter_mm=_number(estimate, "filament_diameter_mm") or 1.75,
        filament_density_g_cm3=_number(estimate, "filament_density_g_cm3") or 1.24,
        default_feed_mm_min=_number(estimate, "default_feed_mm_min") or 1500.0,
        rapid_feed_mm_min=_number(estimate, "rapid_feed_mm_min"),
        max_feed_mm_min=_number(estimate, "max_feed_mm_min"),
        home_mm=_vector(volume, "home_mm", (0.0, 0.0, 0.0)),
        materials=materials,
        source=source,
    )


def _command_key(text: str) -> str:
    """Normalise a configured command name: `m500` -> `M500`, `G01` -> `G1`."""
    text = text.strip().upper()
    if len(text) > 1 and text[0] in "GMT" and text[1:].replace(".", "", 1).isdigit():
        number = float(text[1:])
        return f"{text[0]}{number:g}"
    return text


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ProfileError(f"[{key}] must be a table")
    return value


def _number(table: Mapping[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{key} must be a number, not {value!r}")
    return float(value)


def _vector(
    table: Mapping[str, Any], key: str, default: tuple[float, float, float] | None
) -> tuple[float, float, float]:
    value = table.get(key)
    if value is None:
        if default is None:
            raise ProfileError(f"work_volume.{key} is required ([x, y, z] in mm)")
        return default
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ProfileError(f"work_volume.{key} must be [x, y, z] in mm, not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _strings(table: Mapping[str, Any], key: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"commands.{key} must be a list of strings")
    return value


def _material(name: str, entry: Any) -> Material:
    if not isinstance(entry, Mapping):
        raise ProfileError(f"materials.{name} must be a table")
    power = _number(entry, "power_percent")
    speed = _number(entry, "speed_mm_min")
    if power is None or not 0 < power <= 100:
        raise ProfileError(f"materials.{name}.power_percent must be in (0, 100]")
    if speed is None or speed <= 0:
        raise ProfileError(f"materials.{name}.speed_mm_min must be positive")
    passes = entry.get("passes", 1)
    if not isinstance(passes, int) or isinstance(passes, bool) or not 1 <= passes <= 50:
        raise ProfileError(f"materials.{name}.passes must be an integer from 1 to 50")
    mode = str(entry.get("mode", "M4")).upper()
    if mode not in ("M3", "M4"):
        raise ProfileError(f"materials.{name}.mode must be M3 or M4")
    return Material(
        name=name,
        power_percent=power,
        speed_mm_min=speed,
        passes=passes,
        kerf_mm=_number(entry, "kerf_mm") or 0.0,
        mode=mode,
    )
