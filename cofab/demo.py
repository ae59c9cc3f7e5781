"""`cofab demo`: a local network in Barcelona, from real parts, with orders flowing through.

Two fab labs at real coordinates run node agents with OctoPrint virtual printers; a hub with
its own Mosquitto routes orders from makers across the city to the nearest lab that can make
the part. Progress is shown live; the summary ends as a table (and JSON with --json).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cofab.devstack.network import LabSpec, LocalNetwork
from cofab.devstack.samples import sample_designs

LABS = [
    LabSpec("fablab-bcn", "Fab Lab Barcelona (IAAC)", "Barcelona", 41.3969, 2.1945),
    LabSpec("ateneu-les-corts", "Ateneu de Fabricació Les Corts", "Barcelona", 41.3836, 2.1302),
]


@dataclass(frozen=True)
class Maker:
    name: str
    lat: float
    lon: float
    design_index: int
    material: str = "PLA"


MAKERS = [
    Maker("Sagrada Família", 41.4036, 2.1744, 0),
    Maker("Sants", 41.3758, 2.1400, 1),
    Maker("Barceloneta", 41.3807, 2.1894, 2),
    Maker("Pedralbes", 41.3893, 2.1125, 0, "PETG"),
]

TIMEOUT_S = 170


def run_demo(
    *, headless: bool, work_dir: Path | None = None, keep: bool = False, serve: Callable[[], None] | None = None
) -> dict:
    """Run the demo; with `serve`, keep the network up after the summary (the pages and the
    API stay live, labs stay online) until `serve` returns, e.g. on Ctrl-C."""
    started = time.monotonic()
    own_dir = work_dir is None
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="cofab-demo-"))
    say = _printer(headless)
    say(f"cofab demo: work directory {work_dir}")
    network = LocalNetwork(work_dir, LABS)
    try:
        say("starting hub + Mosquitto, 2 OctoPrint virtual printers, 2 node agents ...")
        network.start()
        say(f"network up in {time.monotonic() - started:.1f} s: hub {network.hub_url}")
        designer = network.client(network.issue_token("designer", "Demo Designer"))
        designs = []
        for sample in sample_designs():
            response = designer.post(
                "/api/v1/designs",
                content=sample.data,
                params={
                    "filename": sample.filename,
                    "title": sample.title,
                    "description": sample.description,
                    "licence": "CC-BY-SA-4.0",
                    "materials": "PLA,PETG",
                },
            )
            response.raise_for_status()
            design = response.json()
            designs.append(design)
            size = " x ".join(f"{v:.0f}" for v in design["files"][0]["size_mm"])
            say(f"published {design['title']!r} ({size} mm, watertight={design['files'][0]['watertight']})")
        placed = []
        for maker in MAKERS:
            client = network.client(network.issue_token("maker", maker.name))
            design = designs[maker.design_index]
            response = client.post(
                "/api/v1/orders",
                json={
                    "design_id": design["id"],
                    "material": maker.material,
                    "quantity": 1,
                    "lat": maker.lat,
                    "lon": maker.lon,
                },
            )
            response.raise_for_status()
            placed.append((maker, design, client, response.json(), time.monotonic()))
            say(f"order {response.json()['id']} from {maker.name}: {design['title']} in {maker.material}")
        results = _follow(placed, say, headless)
        summary = {
            "orders": results,
            "total_seconds": round(time.monotonic() - started, 1),
            "labs": [{"node": lab.node_id, "name": lab.name, "lat": lab.lat, "lon": lab.lon} for lab in LABS],
        }
        _print_table(results, say)
        say(f"demo finished in {summary['total_seconds']} s")
        if serve is not None:
            _announce_pages(network, placed, say)
            serve()
    finally:
        network.stop()
        if own_dir and not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    return summary


def _announce_pages(network: LocalNetwork, placed, say) -> None:
    """Where to look: the sign-in page and a token for every face, to paste into it."""
    maker_token = placed[0][2].headers["Authorization"].removeprefix("Bearer ")
    say("")
    say(f"the network keeps running: open {network.hub_url}/login and sign in with a token")
    say(f"  maker ({placed[0][0].name}):  {maker_token}")
    say(f"  designer:                  {network.issue_token('designer', 'Demo Visitor')}")
    for lab in LABS:
        say(f"  lab {lab.node_id:<22} {network.lab_token(lab.node_id)}")
    say(f"  city:                      {network.issue_token('city', 'City of Barcelona')}")
    say(f"  admin:                     {network.admin_token}")
    say("press Ctrl-C to stop")


def _follow(placed, say, headless: bool) -> list[dict]:
    seen: dict[str, int] = {}
    finished: dict[str, dict] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while len(finished) < len(placed) and time.monotonic() < deadline:
        for maker, design, client, order, t0 in placed:
            if order["id"] in finished:
                continue
            current = client.get(f"/api/v1/orders/{order['id']}").json()
            for event in current["events"][seen.get(order["id"], 0) :]:
                say(f"  [{order['id']}] {event['message']}")
            seen[order["id"]] = len(current["events"])
            if current["status"] in {"completed", "failed", "cancelled"}:
                job = current["jobs"][0]
                finished[order["id"]] = {
                    "id": order["id"],
                    "status": current["status"],
                    "node": job["node_id"],
                    "distance_km": job["distance_km"],
                    "seconds": round(time.monotonic() - t0, 1),
                    "maker": maker.name,
                    "design": design["title"],
                    "material": maker.material,
                    "reason": job["reason"],
                }
        time.sleep(0.5)
    for maker, design, _client, order, t0 in placed:
        finished.setdefault(
            order["id"],
            {
                "id": order["id"],
                "status": "timed_out",
                "node": None,
                "distance_km": None,
                "seconds": round(time.monotonic() - t0, 1),
                "maker": maker.name,
                "design": design["title"],
                "material": maker.material,
                "reason": f"not done in {TIMEOUT_S} s",
            },
        )
    return [finished[order["id"]] for _m, _d, _c, order, _t in placed]


def _print_table(results: list[dict], say) -> None:
    header = f"{'order':<20} {'maker':<16} {'design':<24} {'status':<10} {'lab':<18} {'km':>6} {'s':>6}"
    say("")
    say(header)
    say("-" * len(header))
    for r in results:
        km = f"{r['distance_km']:.1f}" if r["distance_km"] is not None else "-"
        say(
            f"{r['id']:<20} {r['maker'][:16]:<16} {r['design'][:24]:<24} {r['status']:<10} "
            f"{(r['node'] or '-'):<18} {km:>6} {r['seconds']:>6.1f}"
        )


def _printer(headless: bool):
    stream = sys.stderr if headless else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say
