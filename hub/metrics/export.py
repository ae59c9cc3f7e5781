"""Open-data exports of a `CityReport`: CSV tables and GeoJSON (labs and maker-to-lab flows).

Why these shapes: CSV opens in any spreadsheet and every row carries the assumptions it was
computed with, so a copy passed around stays self-explaining; GeoJSON opens in any GIS (QGIS,
uMap) without this hub. Makers' places are the centres of privacy-grid cells, never addresses.
"""

from __future__ import annotations

import csv
import io
from typing import Literal

from hub.metrics.service import CityReport, Figures

Table = Literal["district", "month", "district_month", "lab", "part"]

FIGURE_COLUMNS = [
    "parts",
    "mass_kg",
    "orders_completed",
    "orders_within_radius",
    "parts_within_radius",
    "avoided_km",
    "avoided_tkm",
    "co2_kg",
    "labour_hours",
    "active_labs",
]
ASSUMPTION_COLUMNS = ["radius_km", "baseline_km", "emission_kg_per_tkm"]
PART_COLUMNS = [
    "job_id",
    "order_id",
    "node_id",
    "district",
    "month",
    "completed_at",
    "material",
    "distance_km",
    "within_radius",
    "mass_g",
    "mass_source",
    "print_hours",
    "hours_source",
    "avoided_km",
    "avoided_tkm",
    "co2_kg",
    "lab_lat",
    "lab_lon",
    "maker_lat",
    "maker_lon",
]


def rows(report: CityReport, table: Table) -> tuple[list[str], list[list]]:
    """Header and rows of one table of the report."""
    assumed = [report.assumptions.as_dict()[k] for k in ASSUMPTION_COLUMNS]

    def figures(f: Figures) -> list:
        values = f.rounded()
        return [values[c] for c in FIGURE_COLUMNS]

    if table == "part":
        return PART_COLUMNS + ASSUMPTION_COLUMNS, [
            [_fmt(getattr(r, c)) for c in PART_COLUMNS] + assumed for r in report.records
        ]
    if table == "district":
        return (
            ["district", *FIGURE_COLUMNS, *ASSUMPTION_COLUMNS],
            [[k, *figures(f), *assumed] for k, f in report.by_district.items()],
        )
    if table == "month":
        return (
            ["month", *FIGURE_COLUMNS, *ASSUMPTION_COLUMNS],
            [[k, *figures(f), *assumed] for k, f in report.by_month.items()],
        )
    if table == "lab":
        return (
            ["node_id", "name", "district", "lat", "lon", "membership", *FIGURE_COLUMNS, *ASSUMPTION_COLUMNS],
            [
                [lab.node_id, lab.name, lab.district, lab.lat, lab.lon, lab.membership, *figures(lab.figures), *assumed]
                for lab in report.labs
            ],
        )
    return (
        ["district", "month", *FIGURE_COLUMNS, *ASSUMPTION_COLUMNS],
        [[d, m, *figures(f), *assumed] for (d, m), f in report.by_district_month.items()],
    )


def _fmt(value):
    if isinstance(value, float):
        return round(value, 6)
    return value


def to_csv(report: CityReport, table: Table) -> str:
    header, body = rows(report, table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()


def to_geojson(report: CityReport) -> dict:
    """Labs as points with their figures; flows as lines from a maker cell to the lab, with parts and mass."""
    features = []
    for lab in report.labs:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lab.lon, lab.lat]},
                "properties": {
                    "kind": "lab",
                    "node_id": lab.node_id,
                    "name": lab.name,
                    "district": lab.district,
                    "membership": lab.membership,
                    **lab.figures.rounded(),
                },
            }
        )
    for flow in report.flows:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[flow.maker_lon, flow.maker_lat], [flow.lab_lon, flow.lab_lat]],
                },
                "properties": {
                    "kind": "flow",
                    "node_id": flow.node_id,
                    "parts": flow.parts,
                    "mass_kg": round(flow.mass_kg, 4),
                    "distance_km": flow.distance_km,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "assumptions": report.assumptions.as_dict(),
            "since": report.since,
            "until": report.until,
            "total": report.total.rounded(),
        },
    }
