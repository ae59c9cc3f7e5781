"""bench.dispatch: jobs per second from "order accepted" to "node acknowledged the offer"
through a real hub, beside raw MQTT round trips on the same broker with no hub.

    python -m bench.dispatch [--quick] [--database-url URL] [--nodes N] [--jobs N] [--senders N]
                             [--profile FILE]

One Mosquitto (the hub's generated configuration, started by `MosquittoSupervisor`), 1,000
simulated node agents in a child process (`bench.simnodes`: one thread, paho external loop),
and two measurements on them, raw before and after the hub so drift shows:

- raw: one paho client with the hub's login publishes an offer-sized message to
  `nodes/<id>/jobs`, the node answers on `nodes/<id>/events`, one round trip outstanding per
  node (1,000 in flight), for a fixed time;
- hub: `cofab hub run` as a child process (not supervising the broker: it connects to this
  one), the 1,000 labs registered and active in its database, orders placed through its
  HTTP API (quantity `--per-order`, at random labs' locations, up to `--senders` requests
  open) by a driver that keeps as many jobs in flight as the raw loop has (1,000). A job's
  latency is the hub's own record: `jobs.created_at` (the order is being accepted) to
  `jobs.started_at` (the node's accepted event applied). The rate is over the middle 80 % of
  acknowledgements of each run.

SQLite by default; `--database-url` names a PostgreSQL server (any database on it): the
bench creates a fresh database there and drops it afterwards. `--replicas N` (PostgreSQL only)
runs N hub processes sharing it, the driver spreading orders over their APIs.

Every process's CPU per job is reported (hub, simulated nodes, broker, the driver, and the
PostgreSQL server's backends), and `notes.cpu_budget` adds them up against the CPU of a raw
round trip: both runs share the same 2 cores, so were both CPU-bound alike, the rate ratio
could not exceed raw CPU / hub-path CPU, however the hub's work were spread over processes.

The report gives each run's rate, latency percentiles and CPU per job, and the ratios hub /
raw. The raw rate moves with the machine, so read the side-by-side ratio and repeat. The
target is 0.4 of raw with p99 within 2x; `notes.cpu_budget` says whether the machine's CPU
allows it at all. `--profile FILE` records the hub with py-spy (the GIL holder's stacks).
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import create_engine, text

from bench.common import parse_args, percentile, report
from bench.simnodes import DEFAULT_MACHINE, SimNodesProcess
from cofab.devstack.network import hub_ready, start_hub
from cofab.devstack.ports import free_port
from cofab_wire import JobOffer, Topics
from hub.broker import BrokerSettings, MosquittoSupervisor

PREFIX = "cofab/v1"
HUB_USER = "cofab-hub"
WINDOW = 1000  # jobs / round trips in flight, both runs


@dataclass
class Lab:
    node_id: str
    password: str
    lat: float
    lon: float


def make_labs(n: int, seed: int = 7) -> list[Lab]:
    """Labs scattered over a 10 x 20 degree box (Europe-sized), each its own broker login."""
    rng = random.Random(seed)
    return [
        Lab(
            f"sim-{i:04d}",
            secrets.token_urlsafe(18),
            round(rng.uniform(40.0, 50.0), 5),
            round(rng.uniform(-5.0, 15.0), 5),
        )
        for i in range(n)
    ]


# -- the broker -------------------------------------------------------------------------------
@contextmanager
def broker(work: Path, labs: list[Lab], hub_password: str):
    """The hub's Mosquitto configuration, every lab's login written in one go and one start."""
    settings = BrokerSettings(
        data_dir=work / "broker",
        port=free_port(),
        hub_port=free_port(),
        prefix=PREFIX,
        hub_username=HUB_USER,
        hub_password=hub_password,
    )
    supervisor = MosquittoSupervisor(settings)
    for lab in labs:
        supervisor.credentials.set_user(lab.node_id, lab.password)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()


def sample_offer_payload(node_id: str, job_id: str) -> bytes:
    """An offer shaped like the hub's (same fields and size), for the raw round trips."""
    return JobOffer(
        job_id=job_id,
        order_id="o_" + "0" * 16,
        design_id="d_" + "0" * 16,
        design_title="Bench part",
        licence="CERN-OHL-S-2.0",
        authors=["Bench Designer"],
        file_name="part.stl",
        file_sha256="a" * 64,
        file_size=684,
        download_url="http://127.0.0.1:8000/api/v1/files/" + "a" * 64,
        download_token="9" * 10 + "." + "f" * 64,
        token_expires_at=time.time() + 900,
        material="PLA",
        process="FDM",
        bbox_mm=(20, 20, 20),
        machine_id="p1",
        deadline=time.time() + 120,
        attribution=[
            {
                "design_id": "d_" + "0" * 16,
                "title": "Bench part",
                "authors": ["Bench Designer"],
                "licence": "CERN-OHL-S-2.0",
            }
        ],
    ).to_bytes()


# -- raw round trips ----------------------------------------------------------------------------
def raw_round_trips(
    supervisor: MosquittoSupervisor, labs: list[Lab], password: str, seconds: float, sim_pid: int | None = None
) -> dict:
    """One client with the hub's login; each node has one offer outstanding; runs `seconds`."""
    host, port = supervisor.settings.hub_endpoint
    topics = Topics(PREFIX)
    sent_at: dict[str, float] = {}
    done: list[tuple[float, float]] = []  # (acknowledged at, latency)
    stop = threading.Event()
    lock = threading.Lock()
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    client.username_pw_set(HUB_USER, password)
    client.max_inflight_messages_set(50)  # as the hub's relay
    counter = iter(range(10**9))
    run = uuid.uuid4().hex[:6]

    def send(node_id: str) -> None:
        job_id = f"raw-{run}-{next(counter)}"
        with lock:
            sent_at[node_id] = time.perf_counter()
        client.publish(topics.jobs(node_id), sample_offer_payload(node_id, job_id), qos=1)

    def on_connect(c, _u, _f, reason, _p) -> None:
        c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.subscribe(topics.all_events, qos=1)

    def on_subscribe(*_args) -> None:
        connected.set()

    def on_message(_c, _u, message) -> None:
        at = time.perf_counter()
        node_id = message.topic.split("/")[-2]
        with lock:
            started = sent_at.pop(node_id, None)
        if started is not None:
            done.append((at, at - started))
        if not stop.is_set():
            send(node_id)

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("raw client could not subscribe")
    cpu = CpuMeter(client=os.getpid(), nodes=sim_pid, broker=supervisor.pid).start()
    for lab in labs:
        send(lab.node_id)
    time.sleep(seconds)
    stop.set()
    usage = cpu.per(len(done))
    time.sleep(1.0)  # let the last replies in
    client.disconnect()
    client.loop_stop()
    return {**summarise(done), **usage}


def summarise(done: list[tuple[float, float]]) -> dict:
    """Rate over the middle 80 % of acknowledgements; latency of those same round trips."""
    done = sorted(done)
    if len(done) < 10:
        return {"count": len(done), "rate_per_s": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    lo, hi = len(done) // 10, len(done) * 9 // 10
    middle = done[lo:hi]
    span = middle[-1][0] - middle[0][0]
    latencies = [lat * 1000 for _, lat in middle]
    return {
        "count": len(done),
        "rate_per_s": round((len(middle) - 1) / span, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


# -- the hub --------------------------------------------------------------------------------------
@contextmanager
def database(database_url: str | None, work: Path):
    """SQLite in the work directory, or a fresh database on the given PostgreSQL server."""
    if database_url is None:
        yield f"sqlite:///{work / 'hub.db'}"
        return
    name = f"cofab_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def provision_labs(url: str, labs: list[Lab]) -> None:
    """The labs as the API would register and approve them, in one transaction (the broker
    logins were written with the broker's configuration)."""
    from sqlmodel import Session

    from hub import migrate
    from hub.db import make_engine
    from hub.nodes.models import Machine, Membership, Node

    migrate.upgrade(url)
    engine = make_engine(url)
    machine = DEFAULT_MACHINE
    with Session(engine) as session:
        for lab in labs:
            session.add(
                Node(
                    id=lab.node_id,
                    name=lab.node_id,
                    city="",
                    lat=lab.lat,
                    lon=lab.lon,
                    online=False,
                    membership=Membership.ACTIVE,
                    created_at=time.time(),
                )
            )
        session.flush()
        for lab in labs:
            x, y, z = machine["build_volume_mm"]
            session.add(
                Machine(
                    node_id=lab.node_id,
                    machine_id=machine["machine_id"],
                    process=machine["process"],
                    build_x_mm=x,
                    build_y_mm=y,
                    build_z_mm=z,
                    materials=list(machine["materials"]),
                )
            )
        session.commit()
    engine.dispose()


class HubProcess:
    def __init__(
        self,
        work: Path,
        url: str,
        supervisor: MosquittoSupervisor,
        hub_password: str,
        admin_token: str,
        replica: str = "bench",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        host, mqtt_port = supervisor.settings.hub_endpoint
        self.env = {
            **os.environ,
            "COFAB_DATA_DIR": str(work / "hub"),
            "COFAB_DATABASE_URL": url,
            "COFAB_BROKER_MANAGED": "false",
            "COFAB_MQTT_HOST": host,
            "COFAB_MQTT_PORT": str(mqtt_port),
            "COFAB_MQTT_USERNAME": HUB_USER,
            "COFAB_MQTT_PASSWORD": hub_password,
            "COFAB_ADMIN_TOKEN": admin_token,
            "COFAB_PUBLIC_URL": self.url,
            "COFAB_REPLICA_ID": replica,
            "COFAB_OFFER_TIMEOUT_S": "3600",
            "COFAB_LOG_LEVEL": "WARNING",
        }
        self.replica = replica
        self.log_path = work / f"hub-{replica}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120) -> None:
        with self.log_path.open("ab") as log:
            self.process = start_hub(self.port, self.env, log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode}; see {self.log_path}")
            if hub_ready(self.url):
                return
            time.sleep(0.2)
        raise RuntimeError(f"hub not ready within {timeout_s} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _box_stl() -> bytes:
    from cofab.devstack.samples import box, stl_bytes

    return stl_bytes(box((20, 20, 20)))


def hub_dispatch(
    work: Path,
    url: str,
    supervisor: MosquittoSupervisor,
    labs: list[Lab],
    hub_password: str,
    *,
    jobs: int,
    per_order: int,
    senders: int,
    seed: int = 11,
    sim_pid: int | None = None,
    profile: Path | None = None,
    replicas: int = 1,
) -> dict:
    admin = "bench-admin-" + secrets.token_urlsafe(12)
    provision_labs(url, labs)
    hubs = [
        HubProcess(work, url, supervisor, hub_password, admin, replica=replica_id(i, replicas)) for i in range(replicas)
    ]
    engine = create_engine(url)
    try:
        for hub in hubs:
            hub.start()
        _wait(
            lambda: _scalar(engine, "SELECT count(*) FROM nodes WHERE online") >= len(labs),
            120,
            "every lab online at the hub",
        )
        with httpx.Client(base_url=hubs[0].url, headers={"Authorization": f"Bearer {admin}"}, timeout=120) as client:
            tokens = {
                role: client.post("/api/v1/tokens", json={"role": role, "name": f"bench {role}"}).json()["token"]
                for role in ("designer", "maker")
            }
            design = client.post(
                "/api/v1/designs",
                content=_box_stl(),
                params={"filename": "part.stl", "title": "Bench part"},
                headers={"Authorization": f"Bearer {tokens['designer']}"},
            )
            design.raise_for_status()
            design_id = design.json()["id"]
        for hub in hubs:  # each replica's own registry hears the statuses: wait until it routes
            _wait(
                lambda h=hub: _routes(h.url, tokens["maker"], design_id, labs[-1]), 60, f"replica {hub.replica} routing"
            )
        started = time.monotonic()
        cpu = CpuMeter(
            hub=[h.process.pid for h in hubs],
            nodes=sim_pid,
            broker=supervisor.pid,
            driver=os.getpid(),
            **({} if url.startswith("sqlite") else {"postgres": postgres_pids}),
        ).start()
        spy = None
        if profile is not None:  # py-spy samples the (first) hub while the orders flow (raw, for flame graphs)
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(hubs[0].process.pid),
                    "-o",
                    str(profile),
                    "-f",
                    "raw",
                    "--nonblocking",
                    "--gil",
                    "-r",
                    "200",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        placed, request_s = drive_orders(
            [h.url for h in hubs],
            tokens["maker"],
            design_id,
            labs,
            engine,
            jobs=jobs,
            per_order=per_order,
            seed=seed,
            senders=senders,
        )
        _wait(
            lambda: _scalar(engine, "SELECT count(*) FROM jobs WHERE started_at IS NOT NULL") >= placed,
            300,
            "every job acknowledged",
        )
        elapsed = time.monotonic() - started
        usage = cpu.per(placed)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT created_at, started_at FROM jobs WHERE started_at IS NOT NULL")).all()
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all())
            offers = _scalar(engine, "SELECT count(*) FROM order_events WHERE kind = 'offered'")
        result = summarise([(started_at, started_at - created_at) for created_at, started_at in rows])
        result.update(
            {
                "jobs": placed,
                "wall_s": round(elapsed, 1),
                "statuses": statuses,
                "offers": offers,
                **usage,
                "order_request_p50_ms": round(percentile(request_s, 50) * 1000, 1),
                "order_request_p99_ms": round(percentile(request_s, 99) * 1000, 1),
            }
        )
        return result
    finally:
        engine.dispose()
        for hub in hubs:
            hub.stop()


def replica_id(index: int, replicas: int) -> str:
    return "bench" if replicas == 1 else f"bench-{index + 1}"


def _routes(hub_url: str, maker: str, design_id: str, lab: Lab) -> bool:
    """Whether this hub's registry has the labs online (a quote finds candidates)."""
    try:
        response = httpx.post(
            f"{hub_url}/api/v1/quotes",
            headers={"Authorization": f"Bearer {maker}"},
            timeout=10,
            json={"design_id": design_id, "material": "PLA", "quantity": 1, "lat": lab.lat, "lon": lab.lon},
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json()["parts"][0]["candidates"])


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (its backends do the hub's queries: their CPU is the
    database's share of a job). Every `postgres` process on the machine counts, so run the
    bench with no other work on that server; the driver's in-flight polling (a count over
    the status index every 20 ms) is included, a small part."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def drive_orders(
    hub_urls: list[str],
    maker: str,
    design_id: str,
    labs: list[Lab],
    engine,
    *,
    jobs: int,
    per_order: int,
    seed: int,
    senders: int,
) -> tuple[int, list[float]]:
    """Place orders of `per_order` copies at random labs' doorsteps through the API, keeping
    about WINDOW jobs placed and not yet acknowledged, with up to `senders` requests at once;
    return how many jobs were placed and each request's seconds.

    In flight = jobs still `offered` (the status index keeps that count cheap) + jobs of
    requests not yet answered. With 4 senders the driver, not the hub, set the pace: an order
    of 50 takes ~0.1 s to answer under load, so 4 at a time kept well under WINDOW in flight."""
    request_s: list[float] = []
    rng = random.Random(seed)
    sites = [rng.choice(labs) for _ in range(jobs // per_order)]
    local = threading.local()

    def place(lab: Lab, hub_url: str) -> None:
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = {}
        client = clients.get(hub_url)
        if client is None:
            client = clients[hub_url] = httpx.Client(
                base_url=hub_url, timeout=120, headers={"Authorization": f"Bearer {maker}"}
            )
        started = time.perf_counter()
        response = client.post(
            "/api/v1/orders",
            json={
                "design_id": design_id,
                "material": "PLA",
                "quantity": per_order,
                "lat": lab.lat + 0.001,
                "lon": lab.lon + 0.001,
            },
        )
        request_s.append(time.perf_counter() - started)
        response.raise_for_status()

    with ThreadPoolExecutor(max_workers=senders) as pool:
        pending: list = []
        for index, lab in enumerate(sites):
            while True:
                for future in [f for f in pending if f.done()]:
                    future.result()
                pending = [f for f in pending if not f.done()]
                in_flight = (
                    _scalar(engine, "SELECT count(*) FROM jobs WHERE status = 'offered'") + len(pending) * per_order
                )
                if in_flight + per_order <= WINDOW and len(pending) < senders:
                    break
                time.sleep(0.02)  # ~40 jobs acknowledged meanwhile: polling faster only costs CPU
            pending.append(pool.submit(place, lab, hub_urls[index % len(hub_urls)]))
        for future in pending:
            future.result()
    return len(sites) * per_order, request_s


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU a process has used so far (/proc/<pid>/stat)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Pids = int | list[int] | Callable[[], list[int]] | None


class CpuMeter:
    """CPU used by named processes between start() and per(), per unit of work. A name may
    stand for several processes (hub replicas) or for a function listing them (a database
    server's backends, some started meanwhile: those count from zero)."""

    def __init__(self, **pids: Pids) -> None:
        self.pids = pids
        self.before: dict[str, dict[int, float]] = {}

    @staticmethod
    def _usage(pids: Pids) -> dict[int, float]:
        listed = pids() if callable(pids) else [pids] if isinstance(pids, int) else pids or []
        return {pid: cpu_seconds(pid) for pid in listed}

    def start(self) -> CpuMeter:
        self.before = {name: self._usage(pids) for name, pids in self.pids.items()}
        return self

    def per(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU per unit, each name."""
        used = {}
        for name, pids in self.pids.items():
            now_usage, before = self._usage(pids), self.before[name]
            seconds = sum(value - before.get(pid, 0.0) for pid, value in now_usage.items())
            used[f"{name}_cpu_ms"] = round(seconds * 1000 / max(count, 1), 3)
        return used


def _scalar(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar() or 0


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def forget_session(supervisor: MosquittoSupervisor, password: str, client_id: str) -> None:
    """End a stopped hub's persistent session, so the raw run's replies are not queued for it."""
    host, port = supervisor.settings.hub_endpoint
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(HUB_USER, password)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect(host, port, clean_start=True, properties=props)
    client.loop_start()
    time.sleep(0.3)
    client.disconnect()
    client.loop_stop()


def cpu_budget(hub: dict, raw_runs: list[dict]) -> dict:
    """The machine's share of the answer: CPU per job through the hub (every process: hub,
    nodes, broker, driver, database server) against CPU per raw round trip. Both runs share
    the same cores, so were both CPU-bound at the same utilisation, the rate ratio could not
    exceed the inverse ratio of their CPU costs, however the hub's work were spread."""
    hub_total = sum(v for k, v in hub.items() if k.endswith("_cpu_ms"))
    raw_total = sum(sum(v for k, v in run.items() if k.endswith("_cpu_ms")) for run in raw_runs) / len(raw_runs)
    return {
        "hub_path_cpu_ms_per_job": round(hub_total, 3),
        "raw_cpu_ms_per_round_trip": round(raw_total, 3),
        "rate_ratio_ceiling_at_equal_utilisation": round(raw_total / hub_total, 3) if hub_total else None,
    }


def main() -> int:
    def add(parser) -> None:
        parser.add_argument(
            "--database-url",
            default=None,
            help="a PostgreSQL server URL (postgresql+psycopg://user@host:port/db); default SQLite",
        )
        parser.add_argument("--nodes", type=int, default=1000)
        parser.add_argument("--jobs", type=int, default=None, help="jobs through the hub (default 20,000; quick 4,000)")
        parser.add_argument("--raw-seconds", type=float, default=None, help="each raw run (default 10 s; quick 4 s)")
        parser.add_argument("--per-order", type=int, default=50, help="copies per order (jobs per HTTP request)")
        parser.add_argument("--senders", type=int, default=8, help="order requests the driver has open at once")
        parser.add_argument(
            "--replicas", type=int, default=1, help="hub processes sharing the work (PostgreSQL only: the scale path)"
        )
        parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
        parser.add_argument(
            "--profile",
            type=Path,
            default=None,
            help="sample the hub with py-spy while orders flow; raw stacks written here",
        )

    args = parse_args(__doc__.splitlines()[0], add)
    if args.replicas < 1:
        raise SystemExit("--replicas must be at least 1")
    if args.replicas > 1 and not args.database_url:
        raise SystemExit("--replicas needs --database-url: several hub processes share PostgreSQL, not SQLite")
    jobs = args.jobs or (4000 if args.quick else 20000)
    raw_seconds = args.raw_seconds or (4.0 if args.quick else 10.0)
    labs = make_labs(args.nodes)
    hub_password = secrets.token_urlsafe(18)
    work = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    try:
        with broker(work, labs, hub_password) as supervisor:
            host, port = supervisor.settings.node_endpoint
            sim = SimNodesProcess(
                work,
                {
                    "host": host,
                    "port": port,
                    "prefix": PREFIX,
                    "reply": ["accepted"],
                    "nodes": [{"id": lab.node_id, "password": lab.password} for lab in labs],
                },
            )
            sim.start()
            try:
                sim_pid = sim.process.pid
                raw_before = raw_round_trips(supervisor, labs, hub_password, raw_seconds, sim_pid)
                with database(args.database_url, work) as url:
                    hub = hub_dispatch(
                        work,
                        url,
                        supervisor,
                        labs,
                        hub_password,
                        jobs=jobs,
                        per_order=args.per_order,
                        senders=args.senders,
                        sim_pid=sim_pid,
                        profile=args.profile,
                        replicas=args.replicas,
                    )
                for index in range(args.replicas):
                    forget_session(supervisor, hub_password, f"{HUB_USER}-{replica_id(index, args.replicas)}")
                raw_after = raw_round_trips(supervisor, labs, hub_password, raw_seconds, sim_pid)
            finally:
                nodes = sim.stop()
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    raw_rate = (raw_before["rate_per_s"] + raw_after["rate_per_s"]) / 2
    raw_p99 = (raw_before["p99_ms"] + raw_after["p99_ms"]) / 2
    budget = cpu_budget(hub, [raw_before, raw_after])
    backend = "postgresql" if args.database_url else "sqlite"
    report(
        "dispatch",
        values={
            "backend": backend,
            "replicas": args.replicas,
            "jobs_per_s": hub["rate_per_s"],
            "p50_ms": hub["p50_ms"],
            "p99_ms": hub["p99_ms"],
            "jobs": hub["jobs"],
            "wall_s": hub["wall_s"],
            "offers": hub["offers"],
            "statuses": hub["statuses"],
            "order_request_p50_ms": hub["order_request_p50_ms"],
            "order_request_p99_ms": hub["order_request_p99_ms"],
            "cpu_ms_per_job": {k: v for k, v in hub.items() if k.endswith("_cpu_ms")},
        },
        baseline={"raw_round_trips_per_s": raw_rate, "raw_p99_ms": raw_p99, "before": raw_before, "after": raw_after},
        ratio={
            "rate_vs_raw": round(hub["rate_per_s"] / raw_rate, 3) if raw_rate else None,
            "p99_vs_raw": round(hub["p99_ms"] / raw_p99, 3) if raw_p99 else None,
        },
        notes={
            "cpu_budget": budget,
            "nodes": len(labs),
            "in_flight": WINDOW,
            "per_order": args.per_order,
            "senders": args.senders,
            "repeated_offers_at_nodes": nodes.get("counts", {}).get("repeated_offers", 0),
            "node_counts": nodes.get("counts", {}),
            "work_dir": str(work) if args.keep else None,
        },
        target=">= 40% of the raw rate, p99 within 2x of raw p99",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
