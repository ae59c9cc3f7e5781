"""The node's own checks of a downloaded file against its machines: it has the bytes, so it
re-checks what the hub only estimated, and declines with the first reason that matters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import designs
from cofab_wire import JobOffer
from fabnode.config import MachineConfig


@dataclass(frozen=True)
class CheckOutcome:
    machine: MachineConfig | None
    reason: str | None
    analysis: designs.MeshAnalysis | None


def check_offer_file(path: Path, offer: JobOffer, machines: list[MachineConfig],
                     queue_lengths: dict[str, int]) -> CheckOutcome:
    try:
        analysis = designs.analyze_mesh(path)
    except designs.DesignFileError as exc:
        return CheckOutcome(None, f"mesh cannot be loaded: {exc}", None)
    if not analysis.watertight:
        return CheckOutcome(None, "mesh is not watertight (it has holes or open edges), so it cannot be "
                                  "sliced into a reliable solid", analysis)
    reasons: list[str] = []
    fitting: list[MachineConfig] = []
    for machine in machines:
        if machine.process != offer.process:
            reasons.append(f"{machine.id} does {machine.process}, not {offer.process}")
        elif offer.material.casefold() not in {m.casefold() for m in machine.materials}:
            reasons.append(f"{machine.id} has no {offer.material} loaded")
        else:
            fit = designs.fit_in_build_volume(tuple(analysis.bbox_extents), machine.build_volume_mm)
            if fit.fits:
                fitting.append(machine)
            else:
                reasons.append(f"{machine.id}: {fit.reason}")
    if not fitting:
        return CheckOutcome(None, "; ".join(reasons) or "no machines", analysis)
    fitting.sort(key=lambda m: (m.id != offer.machine_id, queue_lengths.get(m.id, 0), m.id))
    return CheckOutcome(fitting[0], None, analysis)
