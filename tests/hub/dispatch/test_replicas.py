"""Three hub replicas on one PostgreSQL database share the work: orders placed through all
three APIs, offers published by whichever relay claims them, node events shared among the
replicas by the broker. Simulated nodes (bench.simnodes: one process, one thread) accept each
offer and report it completed. At the end every job is completed, no job was offered twice
(counted at the nodes and in the order histories) and no event was lost.

    COFAB_REPLICA_JOBS=10000 .venv/bin/pytest -s tests/hub/dispatch/test_replicas.py   # the full run

By default 1,000 jobs (CI). One replica supervises Mosquitto; the others connect to its hub
listener with the same hub login.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bench.simnodes import SimNodesProcess
from cofab.devstack.network import hub_ready, start_hub
from cofab.devstack.samples import box, stl_bytes
from tests.mqtt_support import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.postgres]

JOBS = int(os.environ.get("COFAB_REPLICA_JOBS", "1000"))
NODES = int(os.environ.get("COFAB_REPLICA_NODES", "100"))
PER_ORDER = 20
REPLICAS = 3


class Replica:
    def __init__(self, index: int, work: Path, env: dict[str, str]) -> None:
        self.index, self.port = index, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / f"hub-{index}.log"
        self.env = {**os.environ, **env, "COFAB_REPLICA_ID": f"hub-{index}", "COFAB_PUBLIC_URL": self.url}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = start_hub(self.port, self.env, log)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"replica {self.index} exited: {tail(self.log)}")
        return hub_ready(self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)


def test_three_replicas_dispatch_every_job_once(postgres_url, tmp_path):
    admin, hub_password = "admin-" + secrets.token_urlsafe(12), secrets.token_urlsafe(18)
    mqtt_port, hub_mqtt_port = free_port(), free_port()
    common = {
        "COFAB_DATA_DIR": str(tmp_path / "hub"),
        "COFAB_DATABASE_URL": postgres_url,
        "COFAB_ADMIN_TOKEN": admin,
        "COFAB_MQTT_PASSWORD": hub_password,
        "COFAB_LOG_LEVEL": "WARNING",
        # Long enough that no offer lapses under load: a second offer must mean a bug.
        "COFAB_OFFER_TIMEOUT_S": "900",
    }
    replicas = [
        Replica(1, tmp_path, {**common, "COFAB_MQTT_PORT": str(mqtt_port), "COFAB_BROKER_HUB_PORT": str(hub_mqtt_port)})
    ]
    others = {**common, "COFAB_BROKER_MANAGED": "false", "COFAB_MQTT_PORT": str(hub_mqtt_port)}
    replicas += [Replica(i, tmp_path, others) for i in range(2, REPLICAS + 1)]
    sim: SimNodesProcess | None = None
    engine = create_engine(postgres_url)
    try:
        replicas[0].start()  # it migrates the database and starts the broker
        wait_until(replicas[0].ready, timeout=60, what="replica 1")
        for replica in replicas[1:]:
            replica.start()
        wait_until(lambda: all(r.ready() for r in replicas), timeout=60, what="every replica")

        rng = random.Random(6)
        labs = [(f"sim-{i:03d}", round(rng.uniform(40, 50), 4), round(rng.uniform(-5, 15), 4)) for i in range(NODES)]
        nodes = []
        with client(replicas[0].url, admin) as api:  # the replica that holds the broker's logins
            for node_id, lat, lon in labs:
                response = api.post(
                    "/api/v1/nodes",
                    json={
                        "id": node_id,
                        "name": node_id,
                        "lat": lat,
                        "lon": lon,
                        "machines": [{"machine_id": "p1", "build_volume_mm": [250, 250, 250], "materials": ["PLA"]}],
                    },
                )
                assert response.status_code == 201, response.text
                nodes.append({"id": node_id, "password": response.json()["mqtt"]["password"]})
                assert api.post(f"/api/v1/nodes/{node_id}/approvals").status_code == 200
            tokens = {
                role: api.post("/api/v1/tokens", json={"role": role, "name": role}).json()["token"]
                for role in ("designer", "maker")
            }
        with client(replicas[0].url, tokens["designer"]) as api:
            design = api.post(
                "/api/v1/designs",
                content=stl_bytes(box((20, 20, 20))),
                params={"filename": "part.stl", "title": "Replica part"},
            )
            assert design.status_code == 201, design.text
            design_id = design.json()["id"]

        sim = SimNodesProcess(
            tmp_path,
            {
                "host": "127.0.0.1",
                "port": mqtt_port,
                "prefix": "cofab/v1",
                "reply": ["accepted", "completed"],
                "nodes": nodes,
            },
        )
        sim.start()
        wait_until(
            lambda: scalar(engine, "SELECT count(*) FROM nodes WHERE online") == NODES,
            timeout=60,
            what="every node online",
        )
        # Every replica's own registry (statuses over MQTT, the periodic reload) routes to them.
        for replica in replicas:
            wait_until(
                lambda r=replica: quote_finds_labs(r.url, tokens["maker"], design_id, labs[0]),
                timeout=30,
                what=f"replica {replica.index} routing",
            )

        started = time.monotonic()
        sites = [rng.choice(labs) for _ in range(JOBS // PER_ORDER)]

        def place(index: int) -> None:
            _, lat, lon = sites[index]
            with client(replicas[index % REPLICAS].url, tokens["maker"]) as api:
                response = api.post(
                    "/api/v1/orders",
                    json={"design_id": design_id, "material": "PLA", "quantity": PER_ORDER, "lat": lat, "lon": lon},
                )
            assert response.status_code == 201, response.text

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(place, range(len(sites))))
        placed_s = time.monotonic() - started
        wait_until(
            lambda: scalar(engine, "SELECT count(*) FROM jobs WHERE status = 'completed'") == JOBS,
            timeout=max(120, JOBS / 10),
            what=f"{JOBS} jobs completed",
        )
        duration = time.monotonic() - started
        wait_until(
            lambda: scalar(engine, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0, what="the outbox drained"
        )
        stats = sim.stop()
        sim = None

        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all())
            history = {
                kind: dict(
                    conn.execute(
                        text("SELECT job_id, count(*) FROM order_events WHERE kind = :kind GROUP BY job_id"),
                        {"kind": kind},
                    ).all()
                )
                for kind in ("offered", "accepted", "completed")
            }
            seqs = dict(conn.execute(text("SELECT last_seq, count(*) FROM jobs GROUP BY last_seq")).all())
            orders = dict(conn.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all())
        offered_twice = sorted({j for j, n in history["offered"].items() if n > 1} | set(stats["repeated"]))
        events_sent, events_acked = stats["counts"].get("events_sent", 0), stats["counts"].get("puback", 0)
        lost = events_sent - len(history["accepted"]) - len(history["completed"])
        figures = {
            "jobs": JOBS,
            "replicas": REPLICAS,
            "nodes": NODES,
            "completed": statuses.get("completed", 0),
            "offered_twice": len(offered_twice),
            "events_sent": events_sent,
            "events_lost": lost,
            "event_acks_at_nodes": stats["counts"].get("event_acks", 0),
            "placing_s": round(placed_s, 1),
            "duration_s": round(duration, 1),
            "jobs_per_s": round(JOBS / duration, 1),
        }
        print("\nmulti-replica:", json.dumps(figures))

        assert statuses == {"completed": JOBS}
        assert orders == {"completed": JOBS // PER_ORDER}
        assert offered_twice == []
        assert stats["jobs_offered"] == JOBS and stats["counts"]["offers"] == JOBS
        assert len(history["offered"]) == JOBS
        assert events_sent == 2 * JOBS and events_acked >= events_sent  # every event acknowledged by the broker
        assert set(history["accepted"].values()) == {1} == set(history["completed"].values())
        assert lost == 0 and seqs == {2: JOBS}
    except BaseException:
        for replica in replicas:
            print(f"--- replica {replica.index} log ---\n{tail(replica.log)}")
        raise
    finally:
        if sim is not None:
            sim.stop()
        for replica in reversed(replicas):
            replica.stop()
        engine.dispose()


def scalar(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar() or 0


def quote_finds_labs(url: str, maker: str, design_id: str, lab: tuple[str, float, float]) -> bool:
    with client(url, maker) as api:
        response = api.post(
            "/api/v1/quotes",
            json={"design_id": design_id, "material": "PLA", "quantity": 1, "lat": lab[1], "lon": lab[2]},
        )
    return response.status_code == 200 and bool(response.json()["parts"][0]["candidates"])
