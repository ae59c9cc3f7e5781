"""What the node agent's unit tests put around a real `NodeAgent`: a machine held in memory,
a real HTTP server for the design files, and the hub's side of the MQTT conversation over a
real Mosquitto.

Only the machine is fake; the agent, its journal, its checks, its downloads (httpx against a
real socket) and its MQTT session are the ones a lab runs."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as mqtt

from cofab_wire import (
    EventAck,
    EventType,
    JobCommand,
    JobEvent,
    JobOffer,
    NodeStatus,
    Topics,
    parse_event,
    parse_status,
)
from firmware_bridge import (
    JOB_STATES,
    JobProgress,
    MachineBusy,
    MachineCapabilities,
    MachineDriver,
    MachineError,
    MachineState,
    MachineUnreachable,
)
from tests.mqtt_support import HUB_PASSWORD, HUB_USER, Probe, wait_until

TOPICS = Topics("cofab/v1")
TERMINAL = (EventType.COMPLETED, EventType.FAILED, EventType.DECLINED)
CNC_PROGRAM = b"G21\nG90\nG0 X10 Y10 Z5\nG1 Z1 F200\nG1 X50 Y10 F600\nG0 Z5\nM2\n"
"""A small milling program inside a 300 x 300 x 60 mm work volume: it passes the safety check."""


class MemoryMachine(MachineDriver):
    """A FAKE machine, held in memory: it stores uploaded files, runs one job at a time and
    advances it by `100 / steps` percent each time it is asked for its status.

    It is a fake on purpose: these unit tests check the node agent's decisions (which offers
    it takes or declines and why, what it reports to the hub, what it does after a restart),
    and need a machine whose answers they choose. The real drivers against a real OctoPrint
    (virtual printer) are covered by the integration tests in tests/firmware_bridge and
    tests/e2e."""

    def __init__(self, *, steps: int = 4, running: str | None = None, completion: float | None = None) -> None:
        """`running`: the file the machine is already printing when the agent meets it (a job
        left on it by an agent that stopped), at `completion` percent."""
        super().__init__()
        self.steps = steps
        self.files: dict[str, bytes] = {}
        self.started: list[str] = []
        self.stalled = False
        """While True a running job stays where it is (to look at it, or cancel it)."""
        self.reachable = True
        self.refuse_start: str | None = None
        """Make `start` fail with this message, as a host refusing a job does."""
        self._lock = threading.Lock()
        self._state = MachineState.PRINTING if running else MachineState.IDLE
        self._file = running
        self._completion = completion

    def __str__(self) -> str:
        return "memory machine"

    def connect(self, timeout: float = 30.0) -> None:
        if not self.reachable:
            raise MachineUnreachable("memory machine switched off")

    def disconnect(self) -> None:
        with self._lock:
            self._state = MachineState.DISCONNECTED

    def _close_transport(self) -> None:
        """Nothing to release: the machine is a few fields."""

    @property
    def capabilities(self) -> MachineCapabilities:
        return MachineCapabilities()

    def _read_status(self) -> JobProgress:
        if not self.reachable:
            raise MachineUnreachable("memory machine switched off")
        with self._lock:
            if self._state is MachineState.PRINTING and not self.stalled:
                self._completion = min(100.0, (self._completion or 0.0) + 100.0 / self.steps)
                if self._completion >= 100.0:
                    self._state = MachineState.IDLE
            return JobProgress(self._state, completion=self._completion, file_name=self._file)

    def upload(self, path: Path, remote_name: str) -> str:
        self.files[remote_name] = path.read_bytes()
        return remote_name

    def start(self, remote_name: str) -> None:
        with self._lock:
            if self.refuse_start is not None:
                raise MachineError(self.refuse_start)
            if self._state in JOB_STATES:
                raise MachineBusy(f"{self} is running {self._file}", self._state)
            self._state, self._file, self._completion = MachineState.PRINTING, remote_name, 0.0
            self.started.append(remote_name)

    def pause(self) -> None:
        with self._lock:
            self._state = MachineState.PAUSED

    def resume(self) -> None:
        with self._lock:
            self._state = MachineState.PRINTING

    def cancel(self) -> None:
        with self._lock:
            self._state, self._completion = MachineState.IDLE, None

    def emergency_stop(self) -> None:
        with self._lock:
            self._state = MachineState.ERROR

    def send_commands(self, lines: list[str]) -> None:
        """Commands change nothing on this machine."""


class FileServer:
    """The hub's download endpoint, as far as a node sees it: real HTTP on 127.0.0.1 that
    answers 200 with the file for the right token and 403 otherwise. A file may be set to
    answer with a status of its own (a refused download)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self._files: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                server.requests.append(url.path)
                status, body = server._answer(url.path, parse_qs(url.query).get("token", [""])[0])
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status != 200 else "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                """Quiet: the tests read `requests`."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="file-server", daemon=True)

    def _answer(self, path: str, token: str) -> tuple[int, bytes]:
        if token != self.token:
            return 403, b'{"detail": "download token is not valid"}'
        status, body = self._files.get(path, (404, b'{"detail": "no such file"}'))
        return status, body

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve(self, name: str, body: bytes, *, status: int = 200) -> str:
        """Serve `body` at /files/`name` with `status`; returns its URL."""
        self._files[f"/files/{name}"] = (status, body)
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/files/{name}"


def offer_for(
    files: FileServer,
    data: bytes,
    *,
    process: str = "CNC",
    material: str = "plywood",
    job_id: str | None = None,
    served: bytes | None = None,
    status: int = 200,
    announced_size: int | None = None,
    token: str | None = None,
) -> JobOffer:
    """An offer for `data` as the hub would make it. The server may send other bytes
    (`served`), answer with another `status`, the offer may announce another size, or carry
    a wrong token: the node's download checks are about exactly these."""
    job_id = job_id or f"job-{uuid.uuid4().hex[:8]}"
    suffix = {"CNC": "gcode", "laser": "svg"}.get(process, "stl")
    url = files.serve(f"{job_id}.{suffix}", data if served is None else served, status=status)
    return JobOffer(
        job_id=job_id,
        order_id=f"order-{job_id}",
        design_id="design-1",
        design_title="Test part",
        licence="CC-BY-4.0",
        authors=["Tester"],
        file_name=f"part.{suffix}",
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data) if announced_size is None else announced_size,
        download_url=url,
        download_token=files.token if token is None else token,
        token_expires_at=time.time() + 600,
        material=material,
        process=process,
        bbox_mm=(40.0, 10.0, 5.0),
    )


class HubSide(Probe):
    """The hub's side of the node's MQTT conversation, on the hub's listener: it sends offers
    and commands, records the node's events and statuses, and acknowledges each event as the
    hub does once it has committed it (unless `acknowledging` is False)."""

    def __init__(self, endpoint: tuple[str, int], node_id: str) -> None:
        super().__init__(endpoint, HUB_USER, HUB_PASSWORD)
        self.node_id = node_id
        self.acknowledging = True
        self.events: list[JobEvent] = []
        self.statuses: list[NodeStatus] = []

    def _received(self, message: mqtt.MQTTMessage) -> None:
        super()._received(message)
        if message.topic == TOPICS.status(self.node_id):
            self.statuses.append(parse_status(message.payload))
            return
        event = parse_event(message.payload)
        if (event.job_id, event.seq) not in {(e.job_id, e.seq) for e in self.events}:
            self.events.append(event)  # a node re-sends what was not acknowledged; the hub keeps one
        if self.acknowledging:
            self.client.publish(
                TOPICS.jobs(self.node_id), EventAck(job_id=event.job_id, seq=event.seq).to_bytes(), qos=1
            )

    def listen(self) -> HubSide:
        return self.start(TOPICS.events(self.node_id), TOPICS.status(self.node_id))

    def send(self, message: JobOffer | JobCommand | EventAck) -> None:
        self.client.publish(TOPICS.jobs(self.node_id), message.to_bytes(), qos=1).wait_for_publish(5)

    def command(self, job_id: str, command: str, reason: str | None = None) -> None:
        self.send(JobCommand(job_id=job_id, command=command, reason=reason))

    def of(self, job_id: str) -> list[JobEvent]:
        return [e for e in list(self.events) if e.job_id == job_id]

    def stages(self, job_id: str) -> list[str]:
        return [e.stage for e in self.of(job_id) if e.type is EventType.PROGRESS and e.stage]

    def wait_for(self, job_id: str, *types: EventType, stage: str | None = None, timeout: float = 10.0) -> JobEvent:
        """The job's first event of one of `types` (and `stage`, for progress), waiting for it."""

        def found() -> JobEvent | None:
            return next(
                (e for e in self.of(job_id) if e.type in types and (stage is None or e.stage == stage)),
                None,
            )

        wait_until(lambda: found() is not None, timeout, f"{job_id}: {[t.value for t in types]} {stage or ''}")
        event = found()
        assert event is not None
        return event

    def outcome(self, job_id: str, timeout: float = 10.0) -> JobEvent:
        """How the job ended on the node: completed, failed or declined."""
        return self.wait_for(job_id, *TERMINAL, timeout=timeout)

    def wait_online(self) -> None:
        """Until the node's retained status says online: it has subscribed to its jobs by then."""
        wait_until(lambda: any(s.online for s in list(self.statuses)), what=f"{self.node_id} online")
