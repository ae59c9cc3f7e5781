"""The node's own checks of a downloaded file against its machines: it has the bytes, so it
re-checks what the hub only estimated, and declines with the first reason that matters.

FDM/SLA jobs are meshes (loaded, watertight, fit the build volume in some orientation);
laser jobs are SVG/DXF outlines (loaded, fit the work area, turned 90 degrees if need be);
CNC jobs are G-code programs, which the machine worker's safety check reads in full before
anything is sent (CAM is out of scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import designs
from cofab_wire import JobOffer
from designs.outlines import load_outline
from fabnode.config import MachineConfig


@dataclass(frozen=True)
class CheckOutcome:
    machine: MachineConfig | None
    reason: str | None
    analysis: designs.MeshAnalysis | None


def _size_of(path: Path, process: str) -> tuple[tuple[float, ...] | None, designs.MeshAnalysis | None, str | None]:
    """The part's extents to fit, its mesh analysis if it is a mesh, or why it cannot be used."""
    if process == "CNC":
        return None, None, None
    try:
        if process == "laser":
            outline = load_outline(path)
            if not outline.paths:
                return None, None, "the outline has no paths to cut"
            return (*outline.bbox_extents, 0.0), None, None
        analysis = designs.analyze_mesh(path)
    except designs.DesignFileError as exc:
        return None, None, f"file cannot be loaded: {exc}"
    if not analysis.watertight:
        return (
            None,
            analysis,
            ("mesh is not watertight (it has holes or open edges), so it cannot be sliced into a reliable solid"),
        )
    return tuple(analysis.bbox_extents), analysis, None


def check_offer_file(
    path: Path, offer: JobOffer, machines: list[MachineConfig], queue_lengths: dict[str, int]
) -> CheckOutcome:
    extents, analysis, problem = _size_of(path, offer.process)
    if problem is not None:
        return CheckOutcome(None, problem, analysis)
    reasons: list[str] = []
    fitting: list[MachineConfig] = []
    for machine in machines:
        if machine.process != offer.process:
            reasons.append(f"{machine.id} does {machine.process}, not {offer.process}")
        elif offer.material.casefold() not in {m.casefold() for m in machine.materials}:
            reasons.append(f"{machine.id} has no {offer.material} loaded")
        elif extents is None:
            fitting.append(machine)
        else:
            fit = designs.fit_in_build_volume(extents, machine.build_volume_mm)
            if fit.fits:
                fitting.append(machine)
            else:
                reasons.append(f"{machine.id}: {fit.reason}")
    if not fitting:
        return CheckOutcome(None, "; ".join(reasons) or "no machines", analysis)
    fitting.sort(key=lambda m: (m.id != offer.machine_id, queue_lengths.get(m.id, 0), m.id))
    return CheckOutcome(fitting[0], None, analysis)
