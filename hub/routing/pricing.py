"""Price and lead time estimates, with the inputs that produced them, so every number a maker
sees can be traced: material by weight at the lab's price, machine time at the lab's rate,
labour per job, then the designer's share and the cooperative fee on top.

Estimates, not quotes from a slicer: the printed mass is the part's solid volume times
`SOLID_FRACTION` (walls plus ~15 % infill), and the print time is that volume over the
machine's volumetric rate plus a fixed set-up time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hub.routing.snapshots import JobSpec, LabView, MachineView

DENSITY_G_PER_CM3 = {
    "pla": 1.24,
    "petg": 1.27,
    "abs": 1.04,
    "asa": 1.07,
    "tpu": 1.21,
    "nylon": 1.14,
    "pc": 1.20,
    "resin": 1.10,
}
DEFAULT_DENSITY_G_PER_CM3 = 1.20
SOLID_FRACTION = 0.35
SETUP_HOURS = 0.15
DEFAULT_MATERIAL_PRICE_PER_KG = 25.0


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    currency: str
    material: float
    machine_time: float
    labour: float
    designer_share: float
    coop_fee: float
    total: float
    basis: dict

    def as_dict(self) -> dict:
        return asdict(self)


def printed_mass_g(spec: JobSpec) -> float:
    volume = spec.volume_mm3 if spec.volume_mm3 is not None else _box_volume(spec) * 0.5
    density = DENSITY_G_PER_CM3.get(spec.material.casefold(), DEFAULT_DENSITY_G_PER_CM3)
    return volume / 1000.0 * density * SOLID_FRACTION


def estimate_print_hours(spec: JobSpec, machine: MachineView) -> float:
    volume = spec.volume_mm3 if spec.volume_mm3 is not None else _box_volume(spec) * 0.5
    return SETUP_HOURS + volume * SOLID_FRACTION / max(machine.volumetric_rate_mm3_s, 0.1) / 3600.0


def estimate_lead_time_h(spec: JobSpec, machine: MachineView) -> float:
    """Time until the part is done: what is ahead of it on the machine, then its own print."""
    return machine.eta_free_s / 3600.0 + estimate_print_hours(spec, machine)


def price(
    spec: JobSpec, lab: LabView, machine: MachineView, *, designer_share: float, coop_fee: float
) -> PriceBreakdown:
    if not spec.paid:
        return PriceBreakdown(
            lab.currency, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {"note": "unpaid, non-commercial job: nothing is charged"}
        )
    mass_g = printed_mass_g(spec)
    per_kg = lab.material_price_per_kg.get(
        spec.material.upper(), lab.material_price_per_kg.get(spec.material, DEFAULT_MATERIAL_PRICE_PER_KG)
    )
    hours = estimate_print_hours(spec, machine)
    material = round(mass_g / 1000.0 * per_kg, 2)
    machine_time = round(hours * lab.machine_rate_per_hour, 2)
    labour = round(lab.labour_per_job, 2)
    lab_price = material + machine_time + labour
    designer = round(lab_price * designer_share, 2)
    fee = round(lab_price * coop_fee, 2)
    return PriceBreakdown(
        currency=lab.currency,
        material=material,
        machine_time=machine_time,
        labour=labour,
        designer_share=designer,
        coop_fee=fee,
        total=round(lab_price + designer + fee, 2),
        basis={
            "mass_g": round(mass_g, 1),
            "material_price_per_kg": per_kg,
            "print_hours": round(hours, 2),
            "machine_rate_per_hour": lab.machine_rate_per_hour,
            "labour_per_job": lab.labour_per_job,
            "designer_share_of_lab_price": designer_share,
            "coop_fee_of_lab_price": coop_fee,
            "solid_fraction": SOLID_FRACTION,
        },
    )


def _box_volume(spec: JobSpec) -> float:
    x, y, z = spec.size_mm
    return x * y * z
