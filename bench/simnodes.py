"""Many lightweight simulated node agents in one process, for bench.dispatch and the
multi-replica test: not OctoPrint, not the real agent, just the MQTT behaviour a hub sees.

Each node logs in with its own broker credentials, publishes a retained online status (Last
Will: offline), subscribes to its job topic, and answers each new offer at once with an
`accepted` event (and, if asked, `completed`). A repeated offer for a job it already holds is
counted and otherwise ignored, as the real agent's journal does.

All clients run on one thread through paho's external-loop callbacks and one epoll: a paho
`loop_start` thread per client fails silently past ~340 clients in one process (select()
cannot see descriptors above 1023; docs/mqtt.md).

    python -m bench.simnodes --spec spec.json --stats stats.json

`spec.json`: {"host", "port", "prefix", "reply": ["accepted"] or ["accepted", "completed"],
"nodes": [{"id", "password"}], "machine": {NodeStatus machine fields}}. Prints `READY <n>`
once every node is subscribed; on SIGTERM writes the stats and exits.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEFAULT_MACHINE = {
    "machine_id": "p1",
    "process": "FDM",
    "build_volume_mm": [250, 250, 250],
    "materials": ["PLA"],
    "state": "idle",
}


class SimNodes:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.prefix = spec.get("prefix", "cofab/v1")
        self.reply = list(spec.get("reply", ["accepted"]))
        self.machine = spec.get("machine", DEFAULT_MACHINE)
        self.epoll = select.epoll()
        self.by_fd: dict[int, mqtt.Client] = {}
        self.clients: list[mqtt.Client] = []
        self.offers: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.subscribed: set[str] = set()
        self._stop = False

    # -- paho external-loop plumbing ----------------------------------------------------------
    def _open(self, client, _userdata, sock) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.by_fd[sock.fileno()] = client
        self.epoll.register(sock.fileno(), select.EPOLLIN)

    def _close(self, _client, _userdata, sock) -> None:
        fd = sock.fileno()
        if self.by_fd.pop(fd, None) is not None:
            try:
                self.epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def _want_write(self, _client, _userdata, sock) -> None:
        if sock.fileno() in self.by_fd:
            self.epoll.modify(sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def _done_write(self, _client, _userdata, sock) -> None:
        if sock.fileno() in self.by_fd:
            self.epoll.modify(sock.fileno(), select.EPOLLIN)

    # -- node behaviour -------------------------------------------------------------------------
    @staticmethod
    def _message(kind: str, **fields: object) -> bytes:
        """A wire message of `kind`: the envelope every node message carries, then `fields`."""
        envelope = {"v": 1, "message_id": uuid.uuid4().hex, "sent_at": time.time(), "kind": kind}
        return json.dumps({**envelope, **fields}).encode()

    def _status(self, node_id: str, online: bool) -> bytes:
        return self._message("status", node_id=node_id, online=online, machines=[self.machine] if online else [])

    def _event(self, node_id: str, job_id: str, seq: int, kind: str) -> bytes:
        return self._message(
            "event", job_id=job_id, node_id=node_id, seq=seq, type=kind, machine_id=self.machine["machine_id"]
        )

    def add(self, node_id: str, password: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=node_id, protocol=mqtt.MQTTv5, userdata=node_id)
        client.username_pw_set(node_id, password)
        client.max_inflight_messages_set(100)
        client.will_set(f"{self.prefix}/nodes/{node_id}/status", self._status(node_id, False), qos=1, retain=True)
        client.on_socket_open = self._open
        client.on_socket_close = self._close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_write
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        client.connect(self.spec["host"], int(self.spec["port"]), keepalive=60, clean_start=True, properties=props)
        self.clients.append(client)

    def _on_connect(self, client, node_id, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            self.counts["refused"] += 1
            return
        self.counts["connected"] += 1
        client.subscribe(f"{self.prefix}/nodes/{node_id}/jobs", qos=1)
        client.publish(f"{self.prefix}/nodes/{node_id}/status", self._status(node_id, True), qos=1, retain=True)

    def _on_subscribe(self, _client, node_id, _mid, _codes, _props) -> None:
        self.subscribed.add(node_id)

    def _on_message(self, client, node_id, message) -> None:
        if b'"kind":"ack"' in message.payload:  # the hub recorded one of our events (compact JSON)
            self.counts["event_acks"] += 1
            return
        try:
            body = json.loads(message.payload)
        except ValueError:
            self.counts["malformed"] += 1
            return
        if body.get("kind") == "command":
            self.counts["commands"] += 1
            return
        if body.get("kind") == "ack":  # the hub recorded one of our events
            self.counts["event_acks"] += 1
            return
        job_id = body["job_id"]
        self.offers[job_id] += 1
        self.counts["offers"] += 1
        if self.offers[job_id] > 1:
            self.counts["repeated_offers"] += 1
            return
        topic = f"{self.prefix}/nodes/{node_id}/events"
        for seq, kind in enumerate(self.reply, start=1):
            client.publish(topic, self._event(node_id, job_id, seq, kind), qos=1)
            self.counts["events_sent"] += 1

    def _on_publish(self, _client, _node_id, _mid, _reason, _props) -> None:
        self.counts["puback"] += 1

    # -- running --------------------------------------------------------------------------------
    def run(self, on_ready) -> None:
        for node in self.spec["nodes"]:
            self.add(node["id"], node["password"])
        ready_sent = False
        last_misc = time.monotonic()
        while not self._stop:
            for fd, mask in self.epoll.poll(0.05):
                client = self.by_fd.get(fd)
                if client is None:
                    continue
                if mask & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                    client.loop_read()
                if mask & select.EPOLLOUT and fd in self.by_fd:
                    client.loop_write()
            at = time.monotonic()
            if at - last_misc > 1.0:
                last_misc = at
                for client in self.clients:
                    client.loop_misc()
            if not ready_sent and len(self.subscribed) == len(self.clients):
                ready_sent = True
                on_ready(len(self.subscribed))

    def stop(self, *_args) -> None:
        self._stop = True

    def stats(self) -> dict:
        return {
            "nodes": len(self.clients),
            "subscribed": len(self.subscribed),
            "counts": dict(self.counts),
            "jobs_offered": len(self.offers),
            "repeated": {job: n for job, n in self.offers.items() if n > 1},
        }


class SimNodesProcess:
    """Runs `python -m bench.simnodes` as a child (its own interpreter, so its CPU is not the
    caller's GIL) and hands back its stats when stopped."""

    def __init__(self, work_dir: Path, spec: dict) -> None:
        self.work_dir = work_dir
        self.spec_path = work_dir / "simnodes-spec.json"
        self.stats_path = work_dir / "simnodes-stats.json"
        self.log_path = work_dir / "simnodes.log"
        self.spec_path.write_text(json.dumps(spec))
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120.0) -> int:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.simnodes", "--spec", str(self.spec_path), "--stats", str(self.stats_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=Path(__file__).resolve().parent.parent,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        ready = select.poll()
        ready.register(self.process.stdout, select.POLLIN)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"simulated nodes exited with {self.process.returncode}; see {self.log_path}")
            if ready.poll(200):
                line = self.process.stdout.readline().decode().strip()
                if line.startswith("READY"):
                    return int(line.split()[1])
        self.process.kill()
        raise RuntimeError(f"simulated nodes not subscribed within {timeout_s} s; see {self.log_path}")

    def stop(self, timeout_s: float = 30.0) -> dict:
        if self.process is None:
            return {}
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        return json.loads(self.stats_path.read_text()) if self.stats_path.exists() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    sim = SimNodes(json.loads(args.spec.read_text()))
    signal.signal(signal.SIGTERM, sim.stop)
    signal.signal(signal.SIGINT, sim.stop)
    sim.run(lambda n: print(f"READY {n}", flush=True))
    tmp = args.stats.with_suffix(".tmp")
    tmp.write_text(json.dumps(sim.stats()))
    tmp.replace(args.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
