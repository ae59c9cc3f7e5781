"""The hard checks: a lab or machine either can make the job now or it cannot, and says why.

Every check runs even after one fails, so an explanation lists all of them, not only the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from hub.routing.pricing import estimate_lead_time_h
from hub.routing.snapshots import Check, JobSpec, LabView, MachineView

_FIT_TOLERANCE_MM = 1e-6


def _listed(names) -> str:
    return ", ".join(sorted(names)) or "none"


def lab_checks(lab: LabView, spec: JobSpec, now: datetime) -> list[Check]:
    return [
        Check(
            "membership",
            lab.membership == "active",
            "" if lab.membership == "active" else f"lab membership is {lab.membership}, not active",
        ),
        Check("online", lab.online, "" if lab.online else "node is offline"),
        _licence_check(lab, spec),
        _open_check(lab, spec, now),
    ]


def machine_checks(machine: MachineView, spec: JobSpec) -> list[Check]:
    material = spec.material.casefold()
    checks = [
        Check(
            "process",
            machine.process == spec.process,
            ""
            if machine.process == spec.process
            else f"{machine.machine_id} does {machine.process}, not {spec.process}",
        ),
        Check(
            "material",
            material in machine.materials,
            ""
            if material in machine.materials
            else f"{machine.machine_id} works no {spec.material} (has {_listed(machine.materials)})",
        ),
        _fit_check(machine, spec),
        Check(
            "queue",
            machine.queue_length < machine.queue_limit,
            ""
            if machine.queue_length < machine.queue_limit
            else f"{machine.machine_id} queue is full ({machine.queue_length}/{machine.queue_limit})",
        ),
    ]
    if spec.colour:
        has = (
            spec.colour.casefold() in machine.colours
            or (machine.colour_loaded or "").casefold() == spec.colour.casefold()
        )
        checks.append(Check("colour", has, "" if has else f"{machine.machine_id} has no {spec.colour} {spec.material}"))
    if spec.nozzle_mm is not None:
        ok = machine.nozzle_mm is not None and abs(machine.nozzle_mm - spec.nozzle_mm) < 1e-6
        checks.append(
            Check(
                "nozzle",
                ok,
                ""
                if ok
                else f"{machine.machine_id} nozzle is {machine.nozzle_mm or 'unknown'} mm, "
                f"job needs {spec.nozzle_mm} mm",
            )
        )
    if spec.lead_time_h is not None:
        lead = estimate_lead_time_h(spec, machine)
        ok = lead <= spec.lead_time_h
        checks.append(
            Check(
                "lead_time",
                ok,
                ""
                if ok
                else f"{machine.machine_id} would take about {lead:.1f} h, more than the {spec.lead_time_h:g} h asked",
            )
        )
    return checks


def _fit_check(machine: MachineView, spec: JobSpec) -> Check:
    """Axis-aligned orientations: sorting both boxes compares the best of the six at once."""
    fits = all(p <= b + _FIT_TOLERANCE_MM for p, b in zip(spec.size_sorted_mm, machine.build_sorted_mm))
    if fits:
        return Check("fits", True)
    part = " x ".join(f"{v:.1f}" for v in spec.size_mm)
    bed = " x ".join(f"{v:g}" for v in machine.build_mm)
    return Check("fits", False, f"part {part} mm does not fit {machine.machine_id} ({bed} mm) in any orientation")


def _licence_check(lab: LabView, spec: JobSpec) -> Check:
    if spec.paid and not spec.commercial_use_allowed:
        return Check("licence", False, f"licence {spec.licence} forbids commercial use: it is never made as a paid job")
    if not spec.paid and not lab.accepts_unpaid:
        return Check("licence", False, "lab takes no unpaid (non-commercial) jobs")
    return Check("licence", True)


def _open_check(lab: LabView, spec: JobSpec, now: datetime) -> Check:
    if spec.lead_time_h is None or lab.opening_hours.strip() in ("", "24/7"):
        return Check("open", True)
    hours = _parse_hours(lab.opening_hours)
    if hours is None:
        return Check("open", False, f"opening hours {lab.opening_hours!r} cannot be read")
    local_now = now.astimezone(_zone(lab.timezone)).replace(tzinfo=None)
    end = local_now + timedelta(hours=spec.lead_time_h)
    if hours.is_open(local_now):
        return Check("open", True)
    opens = hours.next_change(local_now)
    if opens is not None and opens <= end:
        return Check("open", True)
    return Check("open", False, f"lab is closed for the next {spec.lead_time_h:g} h ({lab.opening_hours})")


@lru_cache(maxsize=4096)
def _parse_hours(text: str):
    """Parsed OSM opening_hours, cached: thousands of labs share a handful of patterns."""
    import opening_hours

    try:
        return opening_hours.OpeningHours(text)
    except Exception:  # the library raises its own parser errors
        return None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("UTC")
