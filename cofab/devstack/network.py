"""A whole cofab network on one machine, from real parts: a hub process (which starts its own
Mosquitto), OctoPrint virtual printers, and node agent processes (`cofab node run`).

The demo and the end-to-end tests both drive this, so what the tests prove is what the demo
shows. Everything lives under one work directory, logs included.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from cofab.devstack.octoprint import VirtualOctoPrint
from cofab.devstack.ports import free_port

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabSpec:
    node_id: str
    name: str
    city: str
    lat: float
    lon: float
    build_volume_mm: tuple[float, float, float] = (220.0, 220.0, 250.0)
    materials: tuple[str, ...] = ("PLA", "PETG")
    machine_id: str = "printer-1"
    auto_accept: bool = True
    queue_limit: int = 5


@dataclass
class _Lab:
    spec: LabSpec
    octoprint: VirtualOctoPrint
    config_path: Path | None = None
    api_token: str | None = None
    process: subprocess.Popen | None = None
    log_file: object | None = None


class NetworkError(RuntimeError):
    pass


@dataclass
class LocalNetwork:
    work_dir: Path
    labs: list[LabSpec]
    speedup_commands: tuple[str, ...] = ("M220 S10000",)
    offer_timeout_s: float = 60.0
    hub_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    hub_mqtt_port: int = field(default_factory=free_port)
    admin_token: str = field(default_factory=lambda: "cofab_admin_" + secrets.token_urlsafe(16))
    _labs: dict[str, _Lab] = field(default_factory=dict)
    _hub: subprocess.Popen | None = None
    _logs: list = field(default_factory=list)

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    # start / stop --------------------------------------------------------------------------
    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            with ThreadPoolExecutor(max_workers=len(self.labs) + 1) as pool:
                printers = pool.map(self._start_octoprint, self.labs)
                hub = pool.submit(self._start_hub)
                for spec, octo in zip(self.labs, printers):
                    self._labs[spec.node_id] = _Lab(spec, octo)
                hub.result()
            for lab in self._labs.values():
                self._register(lab)
                self.start_node(lab.spec.node_id)
            self.wait_nodes_online(list(self._labs), timeout_s=60)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for lab in self._labs.values():
            self._terminate(lab.process)
            lab.octoprint.stop()
        self._terminate(self._hub)
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def __enter__(self) -> LocalNetwork:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # parts ---------------------------------------------------------------------------------
    def _start_octoprint(self, spec: LabSpec) -> VirtualOctoPrint:
        octo = VirtualOctoPrint(self.work_dir / f"octoprint-{spec.node_id}")
        octo.start()
        return octo

    def _open_log(self, name: str):
        handle = (self.work_dir / name).open("ab")
        self._logs.append(handle)
        return handle

    def _start_hub(self) -> None:
        env = {
            **os.environ,
            "COFAB_DATA_DIR": str(self.work_dir / "hub"),
            "COFAB_MQTT_PORT": str(self.mqtt_port),
            "COFAB_BROKER_HUB_PORT": str(self.hub_mqtt_port),
            "COFAB_ADMIN_TOKEN": self.admin_token,
            "COFAB_PUBLIC_URL": self.hub_url,
            "COFAB_OFFER_TIMEOUT_S": str(self.offer_timeout_s),
            "COFAB_MAINTENANCE_INTERVAL_S": "1",
        }
        self._hub = start_hub(self.hub_port, env, self._open_log("hub.log"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._hub.poll() is not None:
                raise NetworkError(
                    f"hub exited with {self._hub.returncode}; see {self.work_dir / 'hub.log'}:\n"
                    + _tail(self.work_dir / "hub.log")
                )
            if hub_ready(self.hub_url):
                return
            time.sleep(0.2)
        raise NetworkError("hub did not become ready within 60 s:\n" + _tail(self.work_dir / "hub.log"))

    def _register(self, lab: _Lab) -> None:
        spec = lab.spec
        response = self.client(self.admin_token).post(
            "/api/v1/nodes",
            json={
                "id": spec.node_id,
                "name": spec.name,
                "city": spec.city,
                "lat": spec.lat,
                "lon": spec.lon,
                "auto_accept": spec.auto_accept,
                "machines": [
                    {
                        "machine_id": spec.machine_id,
                        "process": "FDM",
                        "queue_limit": spec.queue_limit,
                        "build_volume_mm": list(spec.build_volume_mm),
                        "materials": list(spec.materials),
                    }
                ],
            },
        )
        if response.status_code != 201:
            raise NetworkError(f"registering {spec.node_id} failed: {response.status_code} {response.text}")
        creds = response.json()["mqtt"]
        lab.api_token = response.json()["api_token"]
        approved = self.client(self.admin_token).post(f"/api/v1/nodes/{spec.node_id}/approvals")
        if approved.status_code != 200 or approved.json()["membership"] != "active":
            raise NetworkError(f"approving {spec.node_id} failed: {approved.status_code} {approved.text}")
        lab.config_path = self.work_dir / f"node-{spec.node_id}.toml"
        lab.config_path.write_text(
            _node_toml(spec, creds, lab.octoprint, self.work_dir / f"node-{spec.node_id}", self.speedup_commands)
        )

    def start_node(self, node_id: str) -> None:
        lab = self._labs[node_id]
        lab.process = subprocess.Popen(
            [sys.executable, "-m", "cofab.cli", "node", "run", "--config", str(lab.config_path)],
            stdout=self._open_log(f"node-{node_id}.log"),
            stderr=subprocess.STDOUT,
        )

    def kill_hub(self) -> None:
        """SIGKILL the hub, as a crash would. Its Mosquitto keeps running until the next hub
        start replaces it (the supervisor recognises its own broker by config file)."""
        if self._hub is not None:
            self._hub.kill()
            self._hub.wait()
            self._hub = None

    def start_hub(self) -> None:
        self._start_hub()

    def kill_broker(self) -> int | None:
        """SIGKILL the hub's Mosquitto; the hub's watchdog starts a new one. Returns the pid killed."""
        pid_file = self.work_dir / "hub" / "broker" / "mosquitto.pid"
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            return None
        return pid

    def kill_node(self, node_id: str) -> None:
        """SIGKILL, as a crash would: the broker publishes the node's Last Will."""
        lab = self._labs[node_id]
        if lab.process is not None:
            lab.process.kill()
            lab.process.wait()
            lab.process = None

    @staticmethod
    def _terminate(process: subprocess.Popen | None) -> None:
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # clients and waits -----------------------------------------------------------------------
    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.hub_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def issue_token(self, role: str, name: str) -> str:
        response = self.client(self.admin_token).post("/api/v1/tokens", json={"role": role, "name": name})
        response.raise_for_status()
        return response.json()["token"]

    def node_states(self) -> dict[str, bool]:
        nodes = self.client(self.admin_token).get("/api/v1/nodes").json()
        return {n["id"]: n["online"] for n in nodes}

    def wait_nodes_online(self, node_ids: list[str], *, online: bool = True, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = self.node_states()
            if all(states.get(n) is online for n in node_ids):
                return
            time.sleep(0.2)
        logs = "\n".join(_tail(self.work_dir / f"node-{n}.log") for n in node_ids)
        raise NetworkError(
            f"nodes {node_ids} not {'online' if online else 'offline'} within {timeout_s} s: "
            f"{self.node_states()}\n{logs}"
        )

    def lab_token(self, node_id: str) -> str:
        """The lab's own node token (role lab), issued at registration."""
        token = self._labs[node_id].api_token
        if token is None:
            raise NetworkError(f"lab {node_id} is not registered yet")
        return token

    def lab_client(self, node_id: str) -> httpx.Client:
        """The hub API as the lab's own node token, as a person at the lab uses it."""
        return self.client(self.lab_token(node_id))

    def ensure_running(self) -> None:
        """Start again whatever a test or a crash left stopped (hub, node agents)."""
        if self._hub is None or self._hub.poll() is not None:
            self._start_hub()
        for node_id, lab in self._labs.items():
            if lab.process is None or lab.process.poll() is not None:
                self.start_node(node_id)

    def octoprint(self, node_id: str) -> VirtualOctoPrint:
        return self._labs[node_id].octoprint


def start_hub(port: int, env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen:
    """A hub process (`cofab hub run`) on `port` with exactly `env`, its output in `log`: how the
    development network, the replica tests and the dispatch benchmark all start one."""
    return subprocess.Popen(
        [sys.executable, "-m", "cofab.cli", "hub", "run", "--port", str(port)],
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def hub_ready(url: str) -> bool:
    """Whether the hub at `url` answers /healthz with its MQTT session up, which is when it can
    take orders and reach nodes; False while it is starting or unreachable."""
    try:
        return bool(httpx.get(f"{url}/healthz", timeout=1).json().get("mqtt_connected"))
    except (httpx.HTTPError, ValueError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} missing)"


def _node_toml(spec: LabSpec, creds: dict, octo: VirtualOctoPrint, work_dir: Path, speedup: tuple[str, ...]) -> str:
    return f"""# written by cofab.devstack for {spec.name}
node_id = {json.dumps(spec.node_id)}
name = {json.dumps(spec.name)}
auto_accept = {str(spec.auto_accept).lower()}
work_dir = {json.dumps(str(work_dir))}
status_poll_s = 0.5

[location]
lat = {spec.lat}
lon = {spec.lon}

[broker]
host = {json.dumps(creds["host"])}
port = {creds["port"]}
password = {json.dumps(creds["password"])}
prefix = {json.dumps(creds["prefix"])}

[[machines]]
id = {json.dumps(spec.machine_id)}
process = "FDM"
build_volume_mm = {list(spec.build_volume_mm)}
materials = {json.dumps(list(spec.materials))}
slicer_profile = "builtin:generic_fdm_pla"
bed_center_mm = [{spec.build_volume_mm[0] / 2}, {spec.build_volume_mm[1] / 2}]

[machines.driver]
type = "octoprint"
url = {json.dumps(octo.url)}
api_key = {json.dumps(octo.api_key)}
setup_commands = {json.dumps(list(speedup))}
"""
