"""The node agent: connects out to the broker, takes offers, checks files, runs machines.

The lab's network only needs to reach the broker and the hub; nothing reaches into the lab.
The MQTT session is persistent (clean_start false with a session expiry), so offers sent while
the node was away wait in the broker; the Last Will marks the node offline if it vanishes.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cofab_wire import EventType, JobCommand, JobOffer, Topics, WireError, parse_job_message
from fabnode.checks import check_offer_file
from fabnode.config import NodeConfig
from fabnode.download import DownloadError, download_offer_file
from fabnode.events import EventEmitter
from fabnode.machines import AcceptedJob, MachineWorker
from fabnode.status import node_status
from firmware_bridge import MachineDriver, create_driver

log = logging.getLogger(__name__)

DriverFactory = Callable[[dict[str, Any]], MachineDriver]


class NodeAgent:
    def __init__(self, config: NodeConfig, *, driver_factory: DriverFactory = create_driver) -> None:
        self.config = config
        self.topics = Topics(config.broker.prefix)
        self._connected = threading.Event()
        self._seen_jobs: set[str] = set()
        self._seen_lock = threading.Lock()
        self._intake = ThreadPoolExecutor(max_workers=2, thread_name_prefix="intake")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cofab-node-{config.node_id}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(config.mqtt_username, config.broker.password)
        offline = node_status(config, online=False).to_bytes()
        self.client.will_set(self.topics.status(config.node_id), offline, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.emitter = EventEmitter(config.node_id, self._publish_event)
        self.workers: dict[str, MachineWorker] = {
            m.id: MachineWorker(m, driver_factory(dict(m.driver)), self.emitter, work_dir=config.work_dir,
                                profile=m.profile_path(config.config_dir), poll_s=config.status_poll_s,
                                progress_step=config.progress_step_percent, on_change=self.publish_status)
            for m in config.machines
        }

    # lifecycle -----------------------------------------------------------------------------
    def start(self, wait_s: float = 10.0) -> None:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        for worker in self.workers.values():
            worker.start()
            worker.connect_in_background()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.broker.session_expiry_s
        self.client.connect_async(self.config.broker.host, self.config.broker.port, keepalive=15,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        if not self._connected.wait(wait_s):
            log.warning("not connected to the broker yet; retrying in the background")

    def stop(self) -> None:
        """A graceful stop: say offline (retained), then leave."""
        if self._connected.is_set():
            info = self.client.publish(self.topics.status(self.config.node_id),
                                       node_status(self.config, online=False).to_bytes(), qos=1, retain=True)
            info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
        self._intake.shutdown(wait=False, cancel_futures=True)
        for worker in self.workers.values():
            worker.stop()

    def kill_connection(self) -> None:
        """Drop the broker connection without a DISCONNECT, as a crash or a cut cable would
        (the broker then publishes the Last Will). Used by tests of the offline path."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # status --------------------------------------------------------------------------------
    def publish_status(self) -> None:
        if not self._connected.is_set():
            return
        status = node_status(self.config, online=True,
                             states={k: w.state for k, w in self.workers.items()},
                             queues={k: w.queue_length for k, w in self.workers.items()})
        self.client.publish(self.topics.status(self.config.node_id), status.to_bytes(), qos=1, retain=True)

    def _publish_event(self, payload: bytes) -> None:
        self.client.publish(self.topics.events(self.config.node_id), payload, qos=1)

    # MQTT callbacks ----------------------------------------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the node", extra={"reason": str(reason_code)})
            return
        sock = client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(self.topics.jobs(self.config.node_id), qos=1)
        self._connected.set()
        self.publish_status()
        log.info("node connected", extra={"node_id": self.config.node_id})

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self._connected.clear()
        log.warning("node disconnected from broker", extra={"reason": str(reason_code)})

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            parsed = parse_job_message(message.payload)
        except WireError as exc:
            log.warning("malformed job message dropped", extra={"topic": message.topic, "error": str(exc)})
            return
        if isinstance(parsed, JobCommand):
            self._on_command(parsed)
            return
        with self._seen_lock:
            if parsed.job_id in self._seen_jobs:
                log.info("repeated offer ignored", extra={"job_id": parsed.job_id})
                return
            self._seen_jobs.add(parsed.job_id)
        self._intake.submit(self._take_offer, parsed)

    def _on_command(self, command: JobCommand) -> None:
        if command.command == "cancel":
            for worker in self.workers.values():
                worker.cancel(command.job_id)
        else:
            log.warning("command not supported yet", extra={"command": command.command, "job_id": command.job_id})

    # intake --------------------------------------------------------------------------------
    def _take_offer(self, offer: JobOffer) -> None:
        job_id = offer.job_id
        try:
            self.emitter.progress(job_id, "fetching")
            path = download_offer_file(offer, self.config.work_dir / "files")
            self.emitter.progress(job_id, "checking")
            queues = {k: w.queue_length for k, w in self.workers.items()}
            outcome = check_offer_file(path, offer, self.config.machines, queues)
        except DownloadError as exc:
            self.emitter.emit(job_id, EventType.DECLINED, reason=str(exc))
            return
        except Exception as exc:
            log.exception("offer intake failed", extra={"job_id": job_id})
            self.emitter.emit(job_id, EventType.DECLINED, reason=f"node error while checking: {exc}")
            return
        if outcome.machine is None:
            self.emitter.emit(job_id, EventType.DECLINED, reason=outcome.reason)
            return
        self.emitter.emit(job_id, EventType.ACCEPTED, machine_id=outcome.machine.id,
                          detail={"faces": outcome.analysis.faces, "watertight": outcome.analysis.watertight})
        self.workers[outcome.machine.id].submit(AcceptedJob(offer, path, outcome.analysis))
