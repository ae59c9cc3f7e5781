"""Moonraker's (Klipper's API server) answers as firmware_bridge values. Pure functions.

Shapes follow Moonraker's documented HTTP API (`/printer/info`,
`/printer/objects/query?webhooks&print_stats&virtual_sdcard&extruder&heater_bed&toolhead`,
`/server/files/upload`). There is no Klipper here to record answers from, so the tests use
JSON written after that documentation; a live-instance check is still owed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from firmware_bridge.state import JobProgress, MachineCapabilities, MachineState, Temperature

QUERY_OBJECTS = ("webhooks", "print_stats", "virtual_sdcard", "extruder", "heater_bed", "toolhead")
"""The printer objects one status query asks for."""

_PRINT_STATES = {
    "standby": MachineState.IDLE,
    "complete": MachineState.IDLE,
    "cancelled": MachineState.IDLE,
    "printing": MachineState.PRINTING,
    "paused": MachineState.PAUSED,
    "error": MachineState.ERROR,
}
_HEATERS = {"extruder": "tool0", "extruder1": "tool1", "heater_bed": "bed", "chamber": "chamber"}
GCODE_EXTENSIONS = (".gcode", ".g", ".gco")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def result_of(body: Any) -> Any:
    """Moonraker wraps every answer as `{"result": ...}`; errors as `{"error": {"message"}}`."""
    if isinstance(body, Mapping) and "result" in body:
        return body["result"]
    return None


def error_of(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return fallback


def parse_status(status: Mapping[str, Any]) -> JobProgress:
    """A snapshot from the `status` of an objects query (see QUERY_OBJECTS)."""
    webhooks = status.get("webhooks") or {}
    klippy = webhooks.get("state", "ready")
    stats = status.get("print_stats") or {}
    sdcard = status.get("virtual_sdcard") or {}
    temperatures: dict[str, Temperature] = {}
    for name, label in _HEATERS.items():
        heater = status.get(name)
        if isinstance(heater, Mapping) and _number(heater.get("temperature")) is not None:
            temperatures[label] = Temperature(float(heater["temperature"]), _number(heater.get("target")))
    if klippy != "ready":
        state = MachineState.CONNECTING if klippy == "startup" else MachineState.ERROR
        message = webhooks.get("state_message") or f"Klipper is {klippy}"
        return JobProgress(
            state, error=str(message).strip() if state is MachineState.ERROR else None, temperatures=temperatures
        )
    text = str(stats.get("state", "standby"))
    state = _PRINT_STATES.get(text, MachineState.ERROR)
    completion: float | None = None
    if text == "complete":
        completion = 100.0
    elif text in ("printing", "paused", "error"):
        progress = _number(sdcard.get("progress"))
        completion = None if progress is None else min(100.0, max(0.0, progress * 100.0))
    error = None
    if state is MachineState.ERROR:
        error = str(stats.get("message") or f"print_stats state {text!r}")
    filename = stats.get("filename") or None
    return JobProgress(
        state=state,
        completion=completion,
        print_time_s=_number(stats.get("print_duration")),
        file_name=str(filename) if filename and text != "standby" else None,
        error=error,
        temperatures=temperatures,
    )


def parse_capabilities(status: Mapping[str, Any]) -> MachineCapabilities:
    """Build volume from `toolhead.axis_minimum/axis_maximum`; heaters from what exists."""
    toolhead = status.get("toolhead") or {}
    low, high = toolhead.get("axis_minimum"), toolhead.get("axis_maximum")
    volume = None
    if isinstance(low, list) and isinstance(high, list) and len(low) >= 3 and len(high) >= 3:
        ends = [(_number(a), _number(b)) for a, b in zip(low[:3], high[:3], strict=True)]
        size = [b - a for a, b in ends if a is not None and b is not None]
        if len(size) == 3 and all(s > 0 for s in size):
            volume = (size[0], size[1], size[2])
    return MachineCapabilities(
        process="FDM",
        build_volume_mm=volume,
        extruders=sum(1 for k in ("extruder", "extruder1") if status.get(k) is not None) or 1,
        heated_bed=status.get("heater_bed") is not None,
        file_extensions=GCODE_EXTENSIONS,
    )


def parse_upload(result: Any, fallback: str) -> tuple[str, bool]:
    """(stored path, print started) from an upload's result (old and new answer shapes)."""
    if isinstance(result, str):
        return result, False
    if isinstance(result, Mapping):
        item = result.get("item") or {}
        path = item.get("path") if isinstance(item, Mapping) else None
        return str(path or fallback), bool(result.get("print_started"))
    return fallback, False
