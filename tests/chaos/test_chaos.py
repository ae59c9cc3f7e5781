"""Chaos: jobs flow through real parts while the broker, the hub and node agents are killed
with SIGKILL and restarted at random moments (seeded). At the end every job is in exactly one
terminal state, every job of every order the hub accepted was made (completed), no job was
printed twice (by each OctoPrint's own record), and every node event reached the hub (no node
journal holds an unacknowledged event).

The one failure a kill may cause by design: a node killed while its job was starting or
running finds, after its restart, that its machine no longer shows the job, and reports it
failed ("interrupted: ...") rather than make it a second time. Each node kill can do that to
at most the one job its single machine was on, so there are never more such failures than
node kills; any other failure, or a job left unmade, fails the test.

The default is a short run for CI. The long run: `make chaos` (or set COFAB_CHAOS_JOBS,
COFAB_CHAOS_NODES, COFAB_CHAOS_SEED, COFAB_CHAOS_KILL_EVERY_S). The figures are printed as one
JSON line starting with `chaos:`.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter

import httpx
import pytest

from cofab.devstack.network import LabSpec, LocalNetwork
from cofab.devstack.samples import box, stl_bytes

SEED = int(os.environ.get("COFAB_CHAOS_SEED", "20261125"))
JOBS = int(os.environ.get("COFAB_CHAOS_JOBS", "24"))
NODES = int(os.environ.get("COFAB_CHAOS_NODES", "3"))
KILL_EVERY_S = float(os.environ.get("COFAB_CHAOS_KILL_EVERY_S", "2.5"))
CHAOS_MIN_S = float(os.environ.get("COFAB_CHAOS_MIN_S", "25"))
"""Kills go on at least this long, and while orders are being placed."""
TERMINAL = {"completed", "failed", "cancelled"}
KILL_FAILURE = "interrupted"
"""How the node's reason starts when a kill stopped it from finishing a job (fabnode.machines)."""

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(300 + 10 * JOBS)]


def labs(count: int) -> list[LabSpec]:
    return [
        LabSpec(f"chaos-{i}", f"Chaos lab {i}", "Barcelona", 41.38 + 0.01 * i, 2.12 + 0.02 * i, queue_limit=1000)
        for i in range(count)
    ]


class Chaos(threading.Thread):
    """Kills one part at a time, waits, brings it back; counts what it did."""

    def __init__(self, network: LocalNetwork, rng: random.Random, nodes: list[str]) -> None:
        super().__init__(name="chaos", daemon=True)
        self.network, self.rng, self.nodes = network, rng, nodes
        self.kills: Counter[str] = Counter()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(0.5, 1.5) * KILL_EVERY_S):
                kind = self.rng.choices(["node", "broker", "hub"], weights=[2, 1, 1])[0]
                if kind == "node":
                    node = self.rng.choice(self.nodes)
                    self.network.kill_node(node)
                    time.sleep(self.rng.uniform(0.5, 3.0))
                    self.network.start_node(node)
                elif kind == "broker":
                    if self.network.kill_broker() is None:
                        continue
                    time.sleep(self.rng.uniform(1.0, 3.0))  # the hub's watchdog restarts it
                else:
                    self.network.kill_hub()
                    time.sleep(self.rng.uniform(0.5, 2.5))
                    self.network.start_hub()
                self.kills[kind] += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def call(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response | None:
    """A request while the hub may be down: retried only when it surely never arrived."""
    for _ in range(200):
        try:
            return client.request(method, url, **kwargs)
        except httpx.ConnectError:
            time.sleep(0.2)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout):
            return None  # it may have been applied; the order list at the end is the truth
    raise AssertionError(f"hub unreachable for {method} {url}")


def all_orders(maker: httpx.Client) -> list[dict]:
    orders, page = [], 200
    while True:
        batch = call(maker, "GET", "/api/v1/orders", params={"limit": page, "offset": len(orders)}).json()
        orders += batch
        if len(batch) < page:
            return orders


def unacked_events(network: LocalNetwork, node: str) -> int:
    db = sqlite3.connect(network.work_dir / f"node-{node}" / "journal.db")
    try:
        return db.execute("SELECT COUNT(*) FROM events WHERE acked = 0").fetchone()[0]
    finally:
        db.close()


def test_nothing_lost_and_nothing_made_twice_under_random_kills(tmp_path_factory):
    rng = random.Random(SEED)
    specs = labs(NODES)
    started = time.monotonic()
    with LocalNetwork(tmp_path_factory.mktemp("chaos"), specs, offer_timeout_s=20) as network:
        designer = network.client(network.issue_token("designer", "Chaos Designer"))
        maker = network.client(network.issue_token("maker", "Chaos Maker"))
        design = designer.post(
            "/api/v1/designs", content=stl_bytes(box((6, 6, 3))), params={"filename": "tiny.stl", "title": "Tiny"}
        ).json()
        chaos = Chaos(network, rng, [s.node_id for s in specs])
        chaos.start()
        chaos_started = time.monotonic()
        orders_rng = random.Random(SEED + 1)  # placement stays the same whatever the kills do
        answers: Counter[str] = Counter()  # "none": the hub died with the request open
        accepted: list[str] = []  # ids of the orders the hub answered 201
        try:
            for _ in range(JOBS):
                response = call(
                    maker,
                    "POST",
                    "/api/v1/orders",
                    json={
                        "design_id": design["id"],
                        "material": "PLA",
                        "quantity": 1,
                        "lat": orders_rng.uniform(41.37, 41.42),
                        "lon": orders_rng.uniform(2.10, 2.20),
                    },
                )
                answers["none" if response is None else str(response.status_code)] += 1
                if response is not None and response.status_code == 201:
                    accepted.append(response.json()["id"])
                time.sleep(orders_rng.uniform(0.1, 0.6))
            time.sleep(max(0.0, CHAOS_MIN_S - (time.monotonic() - chaos_started)))
        finally:
            chaos.stop.set()
            chaos.join(timeout=30)
        assert chaos.error is None, chaos.error
        network.ensure_running()
        network.wait_nodes_online([s.node_id for s in specs], timeout_s=60)

        deadline = time.monotonic() + 120 + JOBS * 6
        while True:
            orders = all_orders(maker)
            jobs = [job for order in orders for job in order["jobs"]]
            if all(job["status"] in TERMINAL for job in jobs) or time.monotonic() > deadline:
                break
            time.sleep(1)

        prints: Counter[str] = Counter()
        for spec in specs:
            for name, count in network.octoprint(spec.node_id).started_prints().items():
                prints[name.removesuffix(".gcode")] += count
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and any(unacked_events(network, s.node_id) for s in specs):
            time.sleep(1)
        unacked = {s.node_id: unacked_events(network, s.node_id) for s in specs}

    statuses = Counter(job["status"] for job in jobs)
    lost = [job["id"] for job in jobs if job["status"] not in TERMINAL]
    twice = {job_id: n for job_id, n in prints.items() if n > 1}
    completed_unprinted = [job["id"] for job in jobs if job["status"] == "completed" and prints[job["id"]] != 1]
    failures = Counter((job["reason"] or "")[:80] for job in jobs if job["status"] == "failed")
    print(
        "chaos:",
        json.dumps(
            {
                "seed": SEED,
                "nodes": NODES,
                "order_requests": JOBS,
                "answers": dict(answers),
                "jobs": len(jobs),
                "kills": dict(chaos.kills),
                "statuses": dict(statuses),
                "lost": len(lost),
                "printed_twice": len(twice),
                "unacknowledged_events": unacked,
                "failure_reasons": dict(failures),
                "seconds": round(time.monotonic() - started, 1),
            }
        ),
    )
    # Every order the hub accepted exists; an unanswered one may or may not.
    missing = set(accepted) - {order["id"] for order in orders}
    assert missing == set(), f"orders the hub had accepted went missing: {sorted(missing)}"
    assert len(accepted) >= JOBS * 0.8, f"too few orders got through the kills: {dict(answers)}"
    assert sum(chaos.kills.values()) >= 2, "the run was too short to kill anything"
    assert lost == [], f"jobs not in a terminal state: {lost}"
    assert twice == {}, f"jobs printed more than once: {twice}"
    assert completed_unprinted == [], f"completed jobs without exactly one print: {completed_unprinted}"
    accepted_jobs = [job for order in orders if order["id"] in set(accepted) for job in order["jobs"]]
    interrupted = [j for j in accepted_jobs if j["status"] == "failed" and (j["reason"] or "").startswith(KILL_FAILURE)]
    unmade = [
        (job["id"], job["status"], job["reason"])
        for job in accepted_jobs
        if job["status"] != "completed" and job not in interrupted
    ]
    assert accepted_jobs, "no accepted order had a job"
    assert unmade == [], f"jobs of accepted orders that were not made, for no kill's sake: {unmade}"
    assert len(interrupted) <= chaos.kills["node"], f"more interrupted jobs than node kills: {interrupted}"
    assert all(count == 0 for count in unacked.values()), f"events never acknowledged by the hub: {unacked}"
