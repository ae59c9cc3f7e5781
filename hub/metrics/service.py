"""City figures from job records: what was made locally, how far it travelled, what it saved.

Why from job records: what cofab promises a city is measured local production, not a model. Every
figure here is a sum over completed jobs (one job = one part copy made at one lab), with the
mass and print hours the price was computed from at offer time (`jobs.match.price.basis`), so
the city sees the same numbers the maker paid for. Where a job has no such basis (an unpaid,
non-commercial job is priced at zero and carries none), the same estimator the price uses is
applied to the part's volume. `FORMULAS` states each figure in words; the dashboard and the
API show them with the assumptions used.

Takes a `Session`; no FastAPI here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from hub.catalog.models import DesignFile
from hub.metrics.config import Assumptions
from hub.nodes.models import Machine, Membership, Node
from hub.orders.models import Job, JobStatus, Order, OrderStatus
from hub.routing.geo import cell_index, haversine_km, snap
from hub.routing.pricing import DEFAULT_DENSITY_G_PER_CM3, DENSITY_G_PER_CM3, SETUP_HOURS, SOLID_FRACTION

DEFAULT_RATE_MM3_S = 8.0

FORMULAS = {
    "parts": "completed jobs (one job is one part copy made at one lab)",
    "mass_kg": "sum of printed mass: price basis mass_g, else volume_mm3 / 1000 x density (g/cm3) x "
    f"{SOLID_FRACTION} (walls + infill), / 1000",
    "orders_within_radius": "completed orders whose every part was made within radius_km (great-circle) of the maker",
    "avoided_km": "sum over parts of max(0, baseline_km - distance maker to lab)",
    "avoided_tkm": "sum over parts of mass_kg / 1000 x max(0, baseline_km - distance maker to lab)",
    "co2_kg": "avoided_tkm x emission_kg_per_tkm",
    "labour_hours": "sum of print hours: price basis print_hours, else "
    f"{SETUP_HOURS} h set-up + volume_mm3 x {SOLID_FRACTION} / machine rate (mm3/s) / 3600",
    "active_labs": "labs that completed at least one part in the period",
    "district": "the lab's declared city (Open Know-Where locality), or a grid cell of grid_deg degrees "
    "around the lab when it declares none (or when district_mode is grid)",
    "month": "calendar month (UTC) in which the part was completed",
}


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One completed part, with everything its figures came from."""

    job_id: str
    order_id: str
    node_id: str
    district: str
    month: str
    completed_at: float
    material: str
    distance_km: float
    within_radius: bool
    mass_g: float
    mass_source: str
    print_hours: float
    hours_source: str
    avoided_km: float
    avoided_tkm: float
    co2_kg: float
    lab_lat: float
    lab_lon: float
    maker_lat: float
    maker_lon: float


@dataclass(slots=True)
class Figures:
    """Totals over a set of parts. Orders are counted where and when their last part was made."""

    parts: int = 0
    mass_kg: float = 0.0
    orders_completed: int = 0
    orders_within_radius: int = 0
    parts_within_radius: int = 0
    avoided_km: float = 0.0
    avoided_tkm: float = 0.0
    co2_kg: float = 0.0
    labour_hours: float = 0.0
    active_labs: int = 0

    def rounded(self) -> dict:
        out = asdict(self)
        for key, digits in (("mass_kg", 6), ("avoided_km", 3), ("avoided_tkm", 6), ("co2_kg", 6), ("labour_hours", 4)):
            out[key] = round(out[key], digits)
        return out


@dataclass(frozen=True, slots=True)
class LabPoint:
    node_id: str
    name: str
    district: str
    lat: float
    lon: float
    membership: str
    figures: Figures


@dataclass(frozen=True, slots=True)
class Flow:
    """Parts made at a lab for makers in one privacy cell (the cell's centre, not the address)."""

    node_id: str
    maker_lat: float
    maker_lon: float
    lab_lat: float
    lab_lon: float
    parts: int
    mass_kg: float
    distance_km: float


@dataclass
class CityReport:
    assumptions: Assumptions
    since: float | None
    until: float | None
    total: Figures
    by_district: dict[str, Figures]
    by_month: dict[str, Figures]
    by_district_month: dict[tuple[str, str], Figures]
    labs: list[LabPoint]
    flows: list[Flow]
    member_labs: int
    records: list[PartRecord] = field(repr=False, default_factory=list)


def _short(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def grid_cell(lat: float, lon: float, step: float) -> str:
    """A stable, readable name for the cell: its south-west corner, e.g. `cell 41.35,2.15`."""
    return f"cell {_short(cell_index(lat, step) * step)},{_short(cell_index(lon, step) * step)}"


def district_of(node: Node, assumptions: Assumptions) -> str:
    if assumptions.district_mode == "city" and node.city.strip():
        return node.city.strip()
    return grid_cell(node.lat, node.lon, assumptions.grid_deg)


def month_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def estimated_mass_g(design_file: DesignFile | None, material: str) -> float:
    """The pricing estimator (hub.routing.pricing.printed_mass_g) on the part's stored volume."""
    volume = _volume_mm3(design_file)
    density = DENSITY_G_PER_CM3.get(material.casefold(), DEFAULT_DENSITY_G_PER_CM3)
    return volume / 1000.0 * density * SOLID_FRACTION


def estimated_print_hours(design_file: DesignFile | None, rate_mm3_s: float) -> float:
    """The pricing estimator (hub.routing.pricing.estimate_print_hours) on the stored volume."""
    return SETUP_HOURS + _volume_mm3(design_file) * SOLID_FRACTION / max(rate_mm3_s, 0.1) / 3600.0


def _volume_mm3(design_file: DesignFile | None) -> float:
    if design_file is None:
        return 0.0
    if design_file.volume_mm3 is not None:
        return design_file.volume_mm3
    return design_file.size_x_mm * design_file.size_y_mm * design_file.size_z_mm * 0.5


def part_records(
    session: Session, assumptions: Assumptions, *, since: float | None = None, until: float | None = None
) -> list[PartRecord]:
    """Every part completed in [since, until), oldest first, with its derived figures."""
    jobs = _completed_jobs(session, since, until)
    orders = _by_key(session, Order, Order.id, {j.order_id for j in jobs})
    nodes = _by_key(session, Node, Node.id, {j.node_id for j in jobs if j.node_id})
    files = _by_key(session, DesignFile, DesignFile.id, {j.design_file_id for j in jobs})
    rates = _machine_rates(session, list(nodes))
    records = []
    for job in jobs:
        assert job.completed_at is not None  # _completed_jobs reads only jobs with completed_at set
        order, node = orders.get(job.order_id), nodes.get(job.node_id)
        if order is None or node is None:
            continue
        design_file = files.get(job.design_file_id)
        basis = ((job.match or {}).get("price") or {}).get("basis") or {}
        if isinstance(basis.get("mass_g"), (int, float)):
            mass_g, mass_source = float(basis["mass_g"]), "price basis"
        else:
            mass_g, mass_source = estimated_mass_g(design_file, order.material), "volume x density"
        if isinstance(basis.get("print_hours"), (int, float)):
            hours, hours_source = float(basis["print_hours"]), "price basis"
        else:
            rate = rates.get((node.id, job.machine_id), DEFAULT_RATE_MM3_S)
            hours, hours_source = estimated_print_hours(design_file, rate), "volume / machine rate"
        distance = (
            job.distance_km if job.distance_km is not None else haversine_km(order.lat, order.lon, node.lat, node.lon)
        )
        avoided = max(0.0, assumptions.baseline_km - distance)
        tkm = mass_g / 1e6 * avoided
        records.append(
            PartRecord(
                job_id=job.id,
                order_id=order.id,
                node_id=node.id,
                district=district_of(node, assumptions),
                month=month_of(job.completed_at),
                completed_at=job.completed_at,
                material=order.material,
                distance_km=distance,
                within_radius=distance <= assumptions.radius_km,
                mass_g=mass_g,
                mass_source=mass_source,
                print_hours=hours,
                hours_source=hours_source,
                avoided_km=avoided,
                avoided_tkm=tkm,
                co2_kg=tkm * assumptions.emission_kg_per_tkm,
                lab_lat=node.lat,
                lab_lon=node.lon,
                maker_lat=snap(order.lat, assumptions.privacy_grid_deg),
                maker_lon=snap(order.lon, assumptions.privacy_grid_deg),
            )
        )
    return records


def _completed_jobs(session: Session, since: float | None, until: float | None) -> list[Job]:
    query = select(Job).where(Job.status == JobStatus.COMPLETED.value, col(Job.completed_at).is_not(None))
    if since is not None:
        query = query.where(col(Job.completed_at) >= since)
    if until is not None:
        query = query.where(col(Job.completed_at) < until)
    return list(session.exec(query.order_by(col(Job.completed_at), Job.id)))


def _machine_rates(session: Session, node_ids: list[str]) -> dict[tuple[str, str | None], float]:
    """Each machine's declared print rate (mm3/s), by (lab, machine); a job with no machine finds none."""
    if not node_ids:
        return {}
    machines = session.exec(select(Machine).where(col(Machine.node_id).in_(node_ids)))
    return {(m.node_id, m.machine_id): m.volumetric_rate_mm3_s for m in machines}


def _by_key(session: Session, model, column, keys: set) -> dict:
    present = [k for k in keys if k is not None]
    if not present:
        return {}
    return {getattr(row, column.key): row for row in session.exec(select(model).where(column.in_(present)))}


def _completed_orders(session: Session, records: list[PartRecord]) -> dict[str, PartRecord]:
    """Each completed order with its last-made part (which decides its district and month).

    An order counts only when every one of its jobs is completed and all of them are in `records`
    (the period), so a figure never counts half an order.
    """
    by_order: dict[str, list[PartRecord]] = {}
    for record in records:
        by_order.setdefault(record.order_id, []).append(record)
    if not by_order:
        return {}
    complete = set(
        session.exec(
            select(Order.id).where(col(Order.id).in_(list(by_order)), Order.status == OrderStatus.COMPLETED.value)
        )
    )
    job_counts: dict[str, int] = {}
    for order_id in session.exec(select(Job.order_id).where(col(Job.order_id).in_(list(complete)))):
        job_counts[order_id] = job_counts.get(order_id, 0) + 1
    return {
        order_id: max(parts, key=lambda r: (r.completed_at, r.job_id))
        for order_id, parts in by_order.items()
        if order_id in complete and job_counts.get(order_id) == len(parts)
    }


def aggregate(records: Iterable[PartRecord]) -> Figures:
    """Sum a set of parts (orders are counted separately, by `count_orders`)."""
    figures, labs = Figures(), set()
    for record in records:
        labs.add(record.node_id)
        figures.parts += 1
        figures.mass_kg += record.mass_g / 1000.0
        figures.parts_within_radius += record.within_radius
        figures.avoided_km += record.avoided_km
        figures.avoided_tkm += record.avoided_tkm
        figures.co2_kg += record.co2_kg
        figures.labour_hours += record.print_hours
    figures.active_labs = len(labs)
    return figures


def count_orders(
    figures: Figures,
    parts: list[PartRecord],
    last_parts: dict[str, PartRecord],
    order_parts: dict[str, list[PartRecord]],
) -> None:
    """Add the completed orders whose last part is among `parts`, and those made within the radius."""
    ids = {r.job_id for r in parts}
    for order_id, last in last_parts.items():
        if last.job_id in ids:
            figures.orders_completed += 1
            figures.orders_within_radius += all(r.within_radius for r in order_parts[order_id])


def city_report(
    session: Session, assumptions: Assumptions, *, since: float | None = None, until: float | None = None
) -> CityReport:
    """Every figure of the dashboard: totals, per district, per month, per district and month,
    per lab, and maker-to-lab flows (makers' places blurred to the privacy grid)."""
    records = part_records(session, assumptions, since=since, until=until)
    last_parts = _completed_orders(session, records)
    order_parts: dict[str, list[PartRecord]] = {}
    for record in records:
        order_parts.setdefault(record.order_id, []).append(record)

    def figures_of(parts: list[PartRecord]) -> Figures:
        figures = aggregate(parts)
        count_orders(figures, parts, last_parts, order_parts)
        return figures

    groups: dict[str, dict] = {"district": {}, "month": {}, "district_month": {}, "lab": {}}
    for record in records:
        groups["district"].setdefault(record.district, []).append(record)
        groups["month"].setdefault(record.month, []).append(record)
        groups["district_month"].setdefault((record.district, record.month), []).append(record)
        groups["lab"].setdefault(record.node_id, []).append(record)
    nodes = list(session.exec(select(Node).order_by(Node.id)))
    labs = [
        LabPoint(
            node_id=n.id,
            name=n.name,
            district=district_of(n, assumptions),
            lat=n.lat,
            lon=n.lon,
            membership=n.membership,
            figures=figures_of(groups["lab"].get(n.id, [])),
        )
        for n in nodes
    ]
    return CityReport(
        assumptions=assumptions,
        since=since,
        until=until,
        total=figures_of(records),
        by_district={k: figures_of(v) for k, v in sorted(groups["district"].items())},
        by_month={k: figures_of(v) for k, v in sorted(groups["month"].items())},
        by_district_month={k: figures_of(v) for k, v in sorted(groups["district_month"].items())},
        labs=labs,
        flows=_flows(records),
        member_labs=sum(n.membership == Membership.ACTIVE.value for n in nodes),
        records=records,
    )


def _flows(records: list[PartRecord]) -> list[Flow]:
    """Parts per lab and blurred maker place, for the map's lines."""
    grouped: dict[tuple, list[PartRecord]] = {}
    for record in records:
        grouped.setdefault((record.node_id, record.maker_lat, record.maker_lon), []).append(record)
    return [
        Flow(
            node_id=node_id,
            maker_lat=lat,
            maker_lon=lon,
            lab_lat=parts[0].lab_lat,
            lab_lon=parts[0].lab_lon,
            parts=len(parts),
            mass_kg=sum(p.mass_g for p in parts) / 1000.0,
            distance_km=round(haversine_km(lat, lon, parts[0].lab_lat, parts[0].lab_lon), 3),
        )
        for (node_id, lat, lon), parts in sorted(grouped.items())
    ]
