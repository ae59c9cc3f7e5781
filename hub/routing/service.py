"""Candidate machines for a job, nearest first, and for every node that cannot take it, why.

The checks here are the hub's view from registered and live data; the node checks the file
again itself before accepting (it has the bytes, the hub only has the analysis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

import designs
from hub.nodes.models import Machine, Node
from hub.routing.geo import haversine_km


@dataclass(frozen=True)
class Requirement:
    process: str
    material: str
    size_mm: tuple[float, float, float]
    lat: float
    lon: float


@dataclass(frozen=True)
class Candidate:
    node_id: str
    machine_id: str
    distance_km: float
    queue_length: int


@dataclass
class RoutingResult:
    candidates: list[Candidate] = field(default_factory=list)
    rejections: dict[str, str] = field(default_factory=dict)

    def explain(self) -> str:
        return "; ".join(f"{node}: {why}" for node, why in sorted(self.rejections.items()))


def machine_problem(machine: Machine, need: Requirement) -> str | None:
    """The first hard check a machine fails, as a sentence, or None if it can make the part."""
    if machine.process != need.process:
        return f"machine {machine.machine_id} does {machine.process}, not {need.process}"
    if need.material.casefold() not in {m.casefold() for m in machine.materials}:
        return f"machine {machine.machine_id} has no {need.material} (has {', '.join(machine.materials) or 'none'})"
    fit = designs.fit_in_build_volume(need.size_mm, (machine.build_x_mm, machine.build_y_mm, machine.build_z_mm))
    if not fit.fits:
        return fit.reason
    return None


def find_candidates(session: Session, need: Requirement, *, exclude: set[str] = frozenset()) -> RoutingResult:
    result = RoutingResult()
    nodes = {n.id: n for n in session.exec(select(Node))}
    machines_by_node: dict[str, list[Machine]] = {}
    for machine in session.exec(select(Machine)):
        machines_by_node.setdefault(machine.node_id, []).append(machine)
    for node_id, node in nodes.items():
        if node_id in exclude:
            result.rejections[node_id] = "already declined this job"
            continue
        if not node.online:
            result.rejections[node_id] = "node is offline"
            continue
        problems: list[str] = []
        distance = haversine_km(need.lat, need.lon, node.lat, node.lon)
        for machine in machines_by_node.get(node_id, []):
            problem = machine_problem(machine, need)
            if problem is None:
                result.candidates.append(Candidate(node_id, machine.machine_id, round(distance, 3),
                                                   machine.queue_length))
            else:
                problems.append(problem)
        if not any(c.node_id == node_id for c in result.candidates):
            result.rejections[node_id] = "; ".join(problems) or "no machines registered"
    result.candidates.sort(key=lambda c: (c.distance_km, c.queue_length, c.node_id, c.machine_id))
    return result
