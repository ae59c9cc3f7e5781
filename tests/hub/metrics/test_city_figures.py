"""The city figures against a hand computation on a small fixed data set.

Rows are inserted straight into the tables (labs, a design, orders, jobs with the price basis
routing wrote at offer time), then the API's figures are compared with numbers worked out
below with each formula written out. Assumptions: radius 10 km, baseline 1000 km,
0.1 kg CO2e per tonne-km (the defaults).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from hub.catalog.models import DesignFile, DesignVersion
from hub.nodes.models import Machine, Node
from hub.orders.models import Job, Order
from tests.factories import bearer, design_row, token_rows


def ts(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def match(mass_g: float, print_hours: float) -> dict:
    return {
        "price": {
            "currency": "EUR",
            "total": 9.0,
            "designer_share": 0.6,
            "basis": {"mass_g": mass_g, "print_hours": print_hours},
        }
    }


@pytest.fixture
def dataset(api, tokens) -> None:
    """Lab A in Barcelona (city declared), lab B with no city (a grid-cell district).

    o1: paid, 2 parts at A, 1.7 km from the maker, completed in March   -> a local order
    o2: unpaid (no price basis), 1 part at B, 12 km away, April         -> completed, not local
    o3: paid, 2 parts at A, 3 km away: one completed in April, one still running -> part counts, order not
    o4: a failed part at A                                              -> nothing counts
    """
    engine = api.app.state.services.engine
    with Session(engine) as s:
        people = token_rows(s)
        for node_id, name, city, lat, lon, membership in (
            ("lab-a", "Lab A", "Barcelona", 41.40, 2.19, "active"),
            ("lab-b", "Lab B", "", 41.47, 2.27, "active"),
            ("lab-c", "Lab C", "Girona", 41.98, 2.82, "pending"),
        ):
            joined = ts("2026-01-01")
            s.add(Node(id=node_id, name=name, city=city, lat=lat, lon=lon, membership=membership, created_at=joined))
        s.flush()
        s.add(
            Machine(
                node_id="lab-b",
                machine_id="p1",
                process="FDM",
                build_x_mm=200,
                build_y_mm=200,
                build_z_mm=200,
                volumetric_rate_mm3_s=10.0,
            )
        )
        design_row(s, "d_1", "Cube", latest_version=1, created_at=ts("2026-01-01"))
        s.flush()
        s.add(
            DesignVersion(
                id=1,
                design_id="d_1",
                number=1,
                label="1",
                published_by_token_id=people["designer"].id,
                created_at=ts("2026-01-01"),
            )
        )
        s.flush()
        s.add(
            DesignFile(
                id=1,
                design_id="d_1",
                version_id=1,
                filename="cube.stl",
                sha256="0" * 64,
                size_bytes=684,
                format="stl_binary",
                volume_mm3=4000.0,
                size_x_mm=20,
                size_y_mm=20,
                size_z_mm=10,
                created_at=ts("2026-01-01"),
            )
        )
        s.flush()

        def order(oid: str, status: str, lat: float, lon: float, paid: bool = True) -> None:
            s.add(
                Order(
                    id=oid,
                    design_id="d_1",
                    maker_token_id=people["maker"].id,
                    material="PLA",
                    quantity=1,
                    lat=lat,
                    lon=lon,
                    paid=paid,
                    status=status,
                    created_at=ts("2026-03-01"),
                    updated_at=ts("2026-03-01"),
                )
            )

        def job(jid: str, oid: str, node: str, status: str, km: float, day: str | None, m: dict) -> None:
            s.add(
                Job(
                    id=jid,
                    order_id=oid,
                    design_file_id=1,
                    status=status,
                    node_id=node,
                    machine_id="p1",
                    distance_km=km,
                    match=m,
                    created_at=ts("2026-03-01"),
                    updated_at=ts("2026-03-01"),
                    completed_at=ts(day) if day else None,
                )
            )

        order("o1", "completed", 41.40, 2.17)
        order("o2", "completed", 41.37, 2.15, paid=False)
        order("o3", "in_progress", 41.41, 2.16)
        order("o4", "failed", 41.41, 2.16)
        s.flush()
        job("j1", "o1", "lab-a", "completed", 1.7, "2026-03-10", match(5.0, 0.5))
        job("j2", "o1", "lab-a", "completed", 1.7, "2026-03-11", match(5.0, 0.5))
        job(
            "j3",
            "o2",
            "lab-b",
            "completed",
            12.0,
            "2026-04-02",
            {"price": {"total": 0.0, "basis": {"note": "unpaid, non-commercial job: nothing is charged"}}},
        )
        job("j4", "o3", "lab-a", "completed", 3.0, "2026-04-05", match(5.0, 0.5))
        job("j5", "o3", "lab-a", "running", 3.0, None, match(5.0, 0.5))
        job("j6", "o4", "lab-a", "failed", 3.0, "2026-04-06", match(5.0, 0.5))
        s.commit()


# --- the hand computation ------------------------------------------------------------------
BASELINE, FACTOR = 1000.0, 0.1
# j3 has no price basis: mass = volume_mm3 / 1000 x density(PLA 1.24) x solid fraction 0.35
J3_MASS_G = 4000 / 1000 * 1.24 * 0.35  # 1.736 g
# and hours = 0.15 h set-up + volume x 0.35 / lab B machine's 10 mm3/s / 3600
J3_HOURS = 0.15 + 4000 * 0.35 / 10 / 3600  # 0.18889 h
PARTS = [  # (mass_g, km maker->lab, hours, district, month)
    (5.0, 1.7, 0.5, "Barcelona", "2026-03"),
    (5.0, 1.7, 0.5, "Barcelona", "2026-03"),
    (J3_MASS_G, 12.0, J3_HOURS, "cell 41.45,2.25", "2026-04"),  # 41.47 -> 41.45, 2.27 -> 2.25 on a 0.05 grid
    (5.0, 3.0, 0.5, "Barcelona", "2026-04"),
]


def expected(parts) -> dict:
    return {
        "parts": len(parts),
        "mass_kg": sum(m for m, *_ in parts) / 1000,
        "avoided_km": sum(max(0, BASELINE - km) for _, km, *_ in parts),
        "avoided_tkm": sum(m / 1e6 * max(0, BASELINE - km) for m, km, *_ in parts),
        "co2_kg": sum(m / 1e6 * max(0, BASELINE - km) for m, km, *_ in parts) * FACTOR,
        "labour_hours": sum(h for _, _, h, *_ in parts),
    }


def test_totals_match_the_hand_computation(api, tokens, dataset):
    response = api.get("/api/v1/metrics/summary", headers=bearer(tokens["city"]))
    assert response.status_code == 200, response.text
    body = response.json()
    total, want = body["total"], expected(PARTS)
    # 16.736 g; 998.3 + 998.3 + 988 + 997 = 3981.6 km; 0.5 x 3 + 0.18889 = 1.68889 h
    assert want["mass_kg"] == pytest.approx(0.016736)
    assert want["avoided_km"] == pytest.approx(3981.6)
    assert total["parts"] == 4
    for key in ("mass_kg", "avoided_km", "avoided_tkm", "co2_kg", "labour_hours"):
        assert total[key] == pytest.approx(want[key], abs=1e-4), key
    assert total["orders_completed"] == 2  # o1 and o2; o3 still has a running part
    assert total["orders_within_radius"] == 1  # o1 (1.7 km); o2 was made 12 km away
    assert total["parts_within_radius"] == 3
    assert total["active_labs"] == 2  # lab C made nothing
    assert body["member_labs"] == 2  # lab C is still pending
    assert body["assumptions"]["baseline_km"] == BASELINE and body["assumptions"]["emission_kg_per_tkm"] == FACTOR
    assert "baseline_km" in body["formulas"]["avoided_km"]


def test_per_district_and_month(api, tokens, dataset):
    rows = api.get("/api/v1/metrics/breakdown", params={"by": "district_month"}, headers=bearer(tokens["city"])).json()[
        "rows"
    ]
    got = {(r["district"], r["month"]): r for r in rows}
    assert set(got) == {("Barcelona", "2026-03"), ("Barcelona", "2026-04"), ("cell 41.45,2.25", "2026-04")}
    for key, row in got.items():
        want = expected([p for p in PARTS if (p[3], p[4]) == key])
        assert row["parts"] == want["parts"]
        assert row["mass_kg"] == pytest.approx(want["mass_kg"], abs=1e-4)
        assert row["co2_kg"] == pytest.approx(want["co2_kg"], abs=1e-5)
    assert got[("Barcelona", "2026-03")]["orders_completed"] == 1  # o1 ends in March
    assert got[("Barcelona", "2026-04")]["orders_completed"] == 0  # o3 is not complete
    assert got[("cell 41.45,2.25", "2026-04")]["orders_completed"] == 1
    months = {
        r["month"]: r
        for r in api.get("/api/v1/metrics/breakdown", params={"by": "month"}, headers=bearer(tokens["city"])).json()[
            "rows"
        ]
    }
    assert months["2026-04"]["parts"] == 2 and months["2026-04"]["active_labs"] == 2


def test_period_and_overrides(api, tokens, dataset):
    april = api.get(
        "/api/v1/metrics/summary", params={"since": "2026-04", "until": "2026-04"}, headers=bearer(tokens["city"])
    ).json()["total"]
    assert april["parts"] == 2
    wide = api.get(
        "/api/v1/metrics/summary",
        params={"radius_km": 20, "baseline_km": 500, "emission_kg_per_tkm": 1.0},
        headers=bearer(tokens["city"]),
    ).json()
    assert wide["total"]["orders_within_radius"] == 2
    tkm = sum(m / 1e6 * (500 - km) for m, km, *_ in PARTS)
    assert wide["total"]["co2_kg"] == pytest.approx(tkm * 1.0, abs=1e-5)


def test_csv_and_geojson_exports(api, tokens, dataset):
    text = api.get("/api/v1/metrics/export.csv", params={"table": "district"}, headers=bearer(tokens["city"])).text
    table = {row["district"]: row for row in csv.DictReader(io.StringIO(text))}
    assert float(table["Barcelona"]["mass_kg"]) == pytest.approx(0.015)
    assert table["Barcelona"]["baseline_km"] == "1000.0"
    parts = list(
        csv.DictReader(
            io.StringIO(
                api.get("/api/v1/metrics/export.csv", params={"table": "part"}, headers=bearer(tokens["city"])).text
            )
        )
    )
    j3 = next(p for p in parts if p["job_id"] == "j3")
    assert j3["mass_source"] == "volume x density" and float(j3["mass_g"]) == pytest.approx(J3_MASS_G)
    # makers' places are published only as the centre of a 0.01 degree cell
    assert (float(j3["maker_lat"]), float(j3["maker_lon"])) == (41.375, 2.155)
    geo = api.get("/api/v1/metrics/map.geojson", headers=bearer(tokens["city"])).json()
    labs = {f["properties"]["node_id"]: f for f in geo["features"] if f["properties"]["kind"] == "lab"}
    flows = [f for f in geo["features"] if f["properties"]["kind"] == "flow"]
    assert labs["lab-a"]["geometry"]["coordinates"] == [2.19, 41.40] and labs["lab-a"]["properties"]["parts"] == 3
    assert sum(f["properties"]["parts"] for f in flows) == 4
    assert [2.175, 41.405] in [f["geometry"]["coordinates"][0] for f in flows]  # o1's maker cell


def test_only_the_city_role_reads_the_figures(api, tokens, dataset):
    assert api.get("/api/v1/metrics/summary", headers=bearer(tokens["maker"])).status_code == 403
    assert api.get("/api/v1/metrics/summary").status_code == 401
