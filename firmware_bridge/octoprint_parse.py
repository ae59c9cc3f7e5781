"""OctoPrint's REST answers turned into firmware_bridge values. Pure functions, no I/O.

Kept apart from the HTTP transport so every mapping rule is tested on plain dicts and
strings, including answers that are hard to provoke from a live server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from firmware_bridge.state import JobProgress, MachineCapabilities, MachineState, Temperature

logger = logging.getLogger(__name__)

# The state texts of OctoPrint 1.11 (octoprint.util.comm.MachineCom.getStateString).
_STATES: dict[str, MachineState] = {
    "Offline": MachineState.DISCONNECTED,
    "Closed": MachineState.DISCONNECTED,
    "Opening serial connection": MachineState.CONNECTING,
    "Detecting serial connection": MachineState.CONNECTING,
    "Detecting serial port": MachineState.CONNECTING,
    "Detecting baudrate": MachineState.CONNECTING,
    "Connecting": MachineState.CONNECTING,
    "Operational": MachineState.IDLE,
    "Starting": MachineState.PRINTING,
    "Starting print from SD": MachineState.PRINTING,
    "Starting to send file to SD": MachineState.PRINTING,
    "Printing": MachineState.PRINTING,
    "Printing from SD": MachineState.PRINTING,
    "Sending file to SD": MachineState.PRINTING,
    "Transferring file to SD": MachineState.PRINTING,
    "Resuming": MachineState.PRINTING,
    "Pausing": MachineState.PAUSING,
    "Paused": MachineState.PAUSED,
    "Cancelling": MachineState.CANCELLING,
    "Finishing": MachineState.FINISHING,
    "Error": MachineState.ERROR,
    "Offline after error": MachineState.ERROR,
}

GCODE_EXTENSIONS = (".gcode", ".gco", ".g")
"""What OctoPrint accepts as machine code without plugins (it answers 415 to `.nc`)."""


def parse_state(text: str | None) -> MachineState:
    """Map an OctoPrint state text to a `MachineState`.

    An unknown text maps to `error`: a machine in a state we do not understand must not be
    given a job, and "error" makes a person look at it.
    """
    if text is None:
        return MachineState.DISCONNECTED
    state = _STATES.get(text.strip())
    if state is None:
        logger.warning("OctoPrint reported a state cofab does not know: %r", text)
        return MachineState.ERROR
    return state


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def parse_temperatures(printer: Mapping[str, Any] | None) -> dict[str, Temperature]:
    """Heaters from `GET /api/printer`'s `temperature` (`{"tool0": {"actual", "target"}}`).

    Skips the `history` entry and any heater without an actual reading.
    """
    if not printer:
        return {}
    raw = printer.get("temperature") or {}
    temperatures: dict[str, Temperature] = {}
    for name, reading in raw.items():
        if name == "history" or not isinstance(reading, Mapping):
            continue
        actual = _number(reading.get("actual"))
        if actual is None:
            continue
        temperatures[name] = Temperature(actual=actual, target=_number(reading.get("target")))
    return temperatures


def parse_job(job: Mapping[str, Any], printer: Mapping[str, Any] | None = None) -> JobProgress:
    """A snapshot from `GET /api/job` (and optionally `GET /api/printer` for temperatures).

    The firmware's message after a halt appears only here, under `error`: by then
    `/api/connection` says just "Closed".
    """
    state = parse_state(job.get("state"))
    progress = job.get("progress") or {}
    file_info = (job.get("job") or {}).get("file") or {}
    completion = _number(progress.get("completion"))
    if completion is not None:
        completion = min(100.0, max(0.0, completion))
    error = job.get("error") or None
    if error is None and state is MachineState.ERROR:
        error = f"OctoPrint reports {job.get('state')!r}"
    return JobProgress(
        state=state,
        completion=completion,
        print_time_s=_number(progress.get("printTime")),
        print_time_left_s=_number(progress.get("printTimeLeft")),
        file_name=file_info.get("path") or file_info.get("name") or None,
        error=str(error) if error is not None else None,
        temperatures=parse_temperatures(printer),
    )


def parse_capabilities(profile: Mapping[str, Any] | None) -> MachineCapabilities:
    """Capabilities from an OctoPrint printer profile (`GET /api/printerprofiles`)."""
    if not profile:
        return MachineCapabilities(file_extensions=GCODE_EXTENSIONS)
    volume = profile.get("volume") or {}
    width, depth, height = (_number(volume.get(k)) for k in ("width", "depth", "height"))
    build_volume = (width, depth, height) if width and depth and height and min(width, depth, height) > 0 else None
    extruder = profile.get("extruder") or {}
    count = extruder.get("count")
    return MachineCapabilities(
        process="FDM",
        build_volume_mm=build_volume,
        extruders=count if isinstance(count, int) and count > 0 else 1,
        heated_bed=bool(profile.get("heatedBed")),
        heated_chamber=bool(profile.get("heatedChamber")),
        file_extensions=GCODE_EXTENSIONS,
    )


def current_profile(profiles: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The printer profile in use from `GET /api/printerprofiles` (`current`, else `default`)."""
    entries = profiles.get("profiles") or {}
    for flag in ("current", "default"):
        for profile in entries.values():
            if isinstance(profile, Mapping) and profile.get(flag):
                return profile
    return None


def error_text(body: Any, fallback: str) -> str:
    """The human part of an OctoPrint error answer: `{"error": "..."}`, else the raw text."""
    if isinstance(body, Mapping):
        message = body.get("error") or body.get("message") or body.get("description")
        if message:
            return str(message)
    if isinstance(body, str) and body.strip():
        text = body.strip()
        return text if len(text) <= 300 else text[:300] + "..."
    return fallback


def parse_push(current: Mapping[str, Any]) -> JobProgress:
    """A snapshot from a `current` (or `history`) message of OctoPrint's push socket.

    Same shape as the REST answers, except the state is `{"text", "flags", "error"}` and
    temperatures are a list of timed readings (the newest last).
    """
    state_info = current.get("state") or {}
    job: dict[str, Any] = {
        "state": state_info.get("text"),
        "job": current.get("job") or {},
        "progress": current.get("progress") or {},
        "error": state_info.get("error") or None,
    }
    temps = current.get("temps") or []
    latest = temps[-1] if temps and isinstance(temps[-1], Mapping) else {}
    printer = {"temperature": {k: v for k, v in latest.items() if k != "time"}}
    return parse_job(job, printer)
