"""Open Know-Where (OKW) records for labs: export any lab as an OKW facility, import one.

OKW names processes and materials by Wikipedia URL and makes nothing mandatory; cofab needs
an id, a name and GPS coordinates, and maps the rest where it has a counterpart. Fields
follow the OKW facility and equipment models (docs/okw.md).
"""

from __future__ import annotations

from typing import Any

from hub.errors import Rejected
from hub.nodes.schemas import MachineSpec, NodeCreate, NodePublic

WIKI = "https://en.wikipedia.org/wiki/"
PROCESS_URLS = {
    "FDM": WIKI + "Fused_filament_fabrication",
    "SLA": WIKI + "Stereolithography",
    "laser": WIKI + "Laser_cutting",
    "CNC": WIKI + "Numerical_control",
}
EQUIPMENT_TYPES = {
    "FDM": WIKI + "3D_printing",
    "SLA": WIKI + "3D_printing",
    "laser": WIKI + "Laser_cutting",
    "CNC": WIKI + "CNC_router",
}
MATERIAL_URLS = {
    "PLA": WIKI + "Polylactic_acid",
    "PETG": WIKI + "Polyethylene_terephthalate",
    "ABS": WIKI + "Acrylonitrile_butadiene_styrene",
    "TPU": WIKI + "Thermoplastic_polyurethane",
    "NYLON": WIKI + "Nylon",
    "PLYWOOD": WIKI + "Plywood",
    "ACRYLIC": WIKI + "Poly(methyl_methacrylate)",
    "MDF": WIKI + "Medium-density_fibreboard",
}
_STATUS = {"active": "Active", "pending": "Planned", "inactive": "Closed"}


class OkwError(Rejected):
    pass


def _material_url(name: str) -> str:
    return MATERIAL_URLS.get(name.upper(), WIKI + name.replace(" ", "_"))


def _material_name(value: str) -> str:
    if value.startswith(WIKI):
        for name, url in MATERIAL_URLS.items():
            if url == value:
                return name
        return value.removeprefix(WIKI).replace("_", " ")
    return value


def _process_of(value: str) -> str | None:
    for process, url in PROCESS_URLS.items():
        if value in (url, process) or value.casefold() == process.casefold():
            return process
    return None


def to_okw(lab: NodePublic) -> dict[str, Any]:
    processes = sorted({m.process for m in lab.machines})
    materials = sorted({m for machine in lab.machines for m in machine.materials})
    return {
        "id": lab.id,
        "name": lab.name,
        "location": {
            "address": {"street": lab.address, "city": lab.city, "country": lab.country},
            "gps-coordinates": f"{lab.lat},{lab.lon}",
        },
        "facilityStatus": _STATUS.get(lab.membership, "Active"),
        "openingHours": lab.opening_hours,
        "accessType": lab.access_type,
        "manufacturingProcesses": [PROCESS_URLS[p] for p in processes if p in PROCESS_URLS],
        "typicalMaterials": [_material_url(m) for m in materials],
        "equipment": [
            {
                "id": m.machine_id,
                "equipmentType": EQUIPMENT_TYPES.get(m.process, ""),
                "manufacturingProcess": PROCESS_URLS.get(m.process, m.process),
                "make": m.make,
                "model": m.model,
                "buildVolume": {
                    "x": m.build_volume_mm[0],
                    "y": m.build_volume_mm[1],
                    "z": m.build_volume_mm[2],
                    "unit": "mm",
                },
                "nozzleSize": m.nozzle_mm,
                "laserPower": m.laser_power_w,
                "materialsWorked": [_material_url(x) for x in m.materials],
            }
            for m in lab.machines
        ],
    }


def from_okw(record: dict[str, Any], *, node_id: str | None = None) -> NodeCreate:
    """A lab application from an OKW facility record; refuses what cofab cannot route to."""
    if not isinstance(record, dict):
        raise OkwError("an OKW record must be a mapping")
    location = record.get("location") or {}
    gps = location.get("gps-coordinates") or location.get("gpsCoordinates") or ""
    try:
        lat, lon = (float(part) for part in str(gps).split(","))
    except ValueError:
        raise OkwError("location.gps-coordinates must be 'lat,lon' (cofab routes by distance)") from None
    address = location.get("address") or {}
    machines = []
    for index, item in enumerate(record.get("equipment") or []):
        process = _process_of(str(item.get("manufacturingProcess", "")))
        if process is None:
            continue
        volume = item.get("buildVolume") or {}
        try:
            build = (float(volume["x"]), float(volume["y"]), float(volume["z"]))
        except (KeyError, TypeError, ValueError):
            raise OkwError(f"equipment {index}: buildVolume needs x, y and z in mm") from None
        machines.append(
            MachineSpec(
                machine_id=str(item.get("id") or f"machine-{index + 1}"),
                process=process,
                make=str(item.get("make") or ""),
                model=str(item.get("model") or ""),
                build_volume_mm=build,
                materials=[_material_name(str(m)) for m in item.get("materialsWorked") or []] or ["PLA"],
                nozzle_mm=item.get("nozzleSize"),
                laser_power_w=item.get("laserPower"),
            )
        )
    try:
        return NodeCreate(
            id=node_id or str(record.get("id") or ""),
            name=str(record.get("name") or ""),
            city=str(address.get("city") or ""),
            address=str(address.get("street") or ""),
            country=str(address.get("country") or "")[:2],
            lat=lat,
            lon=lon,
            opening_hours=str(record.get("openingHours") or "24/7"),
            access_type=str(record.get("accessType") or "membership"),
            machines=machines,
        )
    except ValueError as exc:
        raise OkwError(f"OKW record does not make a valid lab: {exc}") from None
