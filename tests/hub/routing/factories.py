"""Small builders for registry snapshots: tests state only what matters to them."""

from __future__ import annotations

from hub.routing.snapshots import JobSpec, LabView, MachineView


def machine(
    node_id: str = "lab",
    machine_id: str = "m1",
    *,
    process: str = "FDM",
    build=(200.0, 200.0, 200.0),
    materials=("PLA",),
    **fields,
) -> MachineView:
    return MachineView(
        node_id=node_id,
        machine_id=machine_id,
        process=process,
        build_sorted_mm=tuple(sorted(build)),
        build_mm=tuple(build),
        materials=frozenset(m.casefold() for m in materials),
        **fields,
    )


def lab(
    node_id: str,
    lat: float = 41.39,
    lon: float = 2.17,
    *,
    machines=None,
    membership: str = "active",
    online: bool = True,
    **fields,
) -> LabView:
    return LabView(
        node_id=node_id,
        name=node_id,
        lat=lat,
        lon=lon,
        membership=membership,
        online=online,
        machines=tuple(machines if machines is not None else [machine(node_id)]),
        **fields,
    )


def spec(**fields) -> JobSpec:
    base = dict(process="FDM", material="PLA", size_mm=(20.0, 20.0, 20.0), lat=41.39, lon=2.17, volume_mm3=8000.0)
    return JobSpec(**{**base, **fields})
