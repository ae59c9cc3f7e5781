"""The node agent: connects out to the broker, takes offers, checks files, runs machines.

The lab's network only needs to reach the broker and the hub; nothing reaches into the lab.
The MQTT session is persistent (cofab_mqtt), so offers sent while the node was away wait in
the broker; the Last Will marks the node offline if it vanishes. The client id is the node id,
which the broker enforces on the nodes' listener.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt

from cofab_mqtt import SessionClient
from cofab_wire import CommandType, EventAck, EventType, JobCommand, JobOffer, Topics, WireError, parse_job_message
from fabnode.checks import check_offer_file
from fabnode.config import NodeConfig
from fabnode.download import DownloadError, download_offer_file
from fabnode.events import EventEmitter
from fabnode.journal import JobState, Journal
from fabnode.machines import AcceptedJob, MachineWorker, RecoveredRun
from fabnode.status import node_status
from firmware_bridge import MachineDriver, StartStagger, create_driver

log = logging.getLogger(__name__)

DriverFactory = Callable[[dict[str, Any]], MachineDriver]


class NodeAgent:
    def __init__(self, config: NodeConfig, *, driver_factory: DriverFactory = create_driver) -> None:
        self.config = config
        self.topics = Topics(config.broker.prefix)
        self._awaiting: dict[str, AcceptedJob] = {}
        self._in_intake: set[str] = set()
        self._intake_lock = threading.Lock()
        self._stopping = threading.Event()
        self.journal = Journal(config.work_dir / "journal.db")
        self._intake = ThreadPoolExecutor(max_workers=2, thread_name_prefix="intake")
        self.session = SessionClient(
            client_id=config.mqtt_username,
            username=config.mqtt_username,
            password=config.broker.password,
            host=config.broker.host,
            port=config.broker.port,
            subscriptions=[(self.topics.jobs(config.node_id), 1)],
            on_message=self._on_message,
            session_expiry_s=config.broker.session_expiry_s,
            who=f"node {config.node_id}",
            on_ready=self._on_ready,
            will=lambda epoch: (
                self.topics.status(config.node_id),
                node_status(config, online=False, connection_epoch=epoch).to_bytes(),
            ),
            epochs=self.journal.next_connection_epoch,
        )
        self.emitter = EventEmitter(config.node_id, self.journal, self._publish_event)
        # One per agent: its FDM machines take turns to switch their heaters on.
        self.stagger = StartStagger(config.start_stagger_s)
        self.workers: dict[str, MachineWorker] = {
            m.id: MachineWorker(
                m,
                driver_factory(dict(m.driver)),
                self.emitter,
                self.journal,
                work_dir=config.work_dir,
                profile=m.profile_path(config.config_dir),
                poll_s=config.status_poll_s,
                progress_step=config.progress_step_percent,
                on_change=self.publish_status,
                stagger=self.stagger,
            )
            for m in config.machines
        }

    # lifecycle -----------------------------------------------------------------------------
    def start(self, wait_s: float = 10.0) -> None:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        for worker in self.workers.values():
            worker.start()
            worker.connect_in_background()
        self._recover()
        self.session.start(wait_s, keepalive_s=15)
        threading.Thread(target=self._resend_loop, name="event-resend", daemon=True).start()

    def _recover(self) -> None:
        """Pick up what the journal says was unfinished when the agent last stopped."""
        for entry in self.journal.unfinished():
            offer = JobOffer.model_validate(entry.offer)
            log.info("recovering job", extra={"job_id": entry.job_id, "state": entry.state.value})
            if entry.state in (JobState.STARTING, JobState.RUNNING) and entry.machine_id in self.workers:
                self.workers[entry.machine_id].recover(
                    RecoveredRun(
                        offer, entry.remote_name or f"{entry.job_id}.gcode", was_running=entry.state is JobState.RUNNING
                    )
                )
            else:
                # Held or accepted but not yet on a machine: check the file again and carry on.
                with self._intake_lock:
                    self._in_intake.add(entry.job_id)
                self._intake.submit(self._take_offer, offer, resumed=entry.state)

    def stop(self) -> None:
        """A graceful stop: say offline (retained), then leave."""
        self._stopping.set()
        if self.session.connected:
            self.session.publish(
                self.topics.status(self.config.node_id),
                node_status(self.config, online=False, connection_epoch=self.session.connection_epoch).to_bytes(),
                retain=True,
            ).wait_for_publish(5)
        self.session.stop()
        self._intake.shutdown(wait=False, cancel_futures=True)
        for worker in self.workers.values():
            worker.stop()
        self.journal.close()

    @property
    def connected(self) -> bool:
        return self.session.connected

    # status --------------------------------------------------------------------------------
    def publish_status(self) -> None:
        if not self.session.connected:
            return
        status = node_status(
            self.config,
            online=True,
            states={k: w.state for k, w in self.workers.items()},
            queues={k: w.queue_length for k, w in self.workers.items()},
            etas={k: w.eta_free_s for k, w in self.workers.items()},
            connection_epoch=self.session.connection_epoch,
        )
        self.session.publish(self.topics.status(self.config.node_id), status.to_bytes(), retain=True)

    def _publish_event(self, payload: bytes):
        return self.session.publish(self.topics.events(self.config.node_id), payload)

    def _on_ready(self) -> None:
        self.publish_status()
        self.emitter.resend_unacked(all_pending=True)

    def _resend_loop(self) -> None:
        while not self._stopping.wait(self.emitter.resend_after_s):
            if self.session.connected:
                try:
                    self.emitter.resend_unacked()
                except Exception:
                    log.exception("re-sending events failed")

    # incoming ------------------------------------------------------------------------------
    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            parsed = parse_job_message(message.payload)
        except WireError as exc:
            log.warning("malformed job message dropped", extra={"topic": message.topic, "error": str(exc)})
            return
        if isinstance(parsed, EventAck):
            self.emitter.acknowledged(parsed.job_id, parsed.seq)
            if parsed.withdrawn:
                self._withdraw(parsed.job_id, "the hub withdrew the job from this node")
            return
        if isinstance(parsed, JobCommand):
            self._on_command(parsed)
            return
        with self._intake_lock:
            if parsed.job_id in self._in_intake:
                log.info("repeated offer ignored (being checked)", extra={"job_id": parsed.job_id})
                return
            offer_json = parsed.model_dump_json()
            if not (
                self.journal.remember_offer(parsed.job_id, offer_json)
                or self.journal.claim_repeated_offer(parsed.job_id, offer_json)
            ):
                log.info("repeated offer ignored", extra={"job_id": parsed.job_id})
                return
            self._in_intake.add(parsed.job_id)
        self._intake.submit(self._take_offer, parsed)

    def _on_command(self, command: JobCommand) -> None:
        if command.command is CommandType.ACCEPT:
            held = self._awaiting.pop(command.job_id, None)
            if held is None:
                log.warning("accept for an offer the node does not hold", extra={"job_id": command.job_id})
                return
            self._accept(held)
        elif command.command in (CommandType.CANCEL, CommandType.DECLINE):
            self._withdraw(command.job_id, command.reason or "cancelled by the hub")
        else:
            log.warning("command not supported yet", extra={"command": command.command, "job_id": command.job_id})

    def _withdraw(self, job_id: str, why: str) -> None:
        """The job is not (or no longer) this node's: drop a held offer, stop a queued job."""
        if self._awaiting.pop(job_id, None) is not None:
            self.journal.set_state(job_id, JobState.DONE)
            log.info("held offer withdrawn", extra={"job_id": job_id, "reason": why})
        for worker in self.workers.values():
            worker.cancel(job_id)

    def _accept(self, job: AcceptedJob, *, announce: bool = True) -> None:
        """Accept, then queue. The worker may slice at once but starts the machine only once the
        hub has acknowledged the acceptance: an offer the hub gave to another node meanwhile
        (this node was cut off) must never be made here too."""
        if announce:
            self.journal.set_state(job.offer.job_id, JobState.ACCEPTED, machine_id=job.machine_id)
            detail = {"faces": job.analysis.faces, "watertight": job.analysis.watertight} if job.analysis else {}
            event = self.emitter.emit(job.offer.job_id, EventType.ACCEPTED, machine_id=job.machine_id, detail=detail)
            self.journal.set_state(job.offer.job_id, JobState.ACCEPTED, accept_seq=event.seq)
        self.workers[job.machine_id].submit(job)

    def _decline(self, job_id: str, reason: str | None) -> None:
        self.journal.set_state(job_id, JobState.DECLINED)
        self.emitter.emit(job_id, EventType.DECLINED, reason=reason)

    # intake --------------------------------------------------------------------------------
    def _take_offer(self, offer: JobOffer, resumed: JobState | None = None) -> None:
        try:
            self._check_offer(offer, resumed)
        finally:
            with self._intake_lock:
                self._in_intake.discard(offer.job_id)

    def _check_offer(self, offer: JobOffer, resumed: JobState | None) -> None:
        job_id = offer.job_id
        try:
            self.emitter.progress(job_id, "fetching")
            path = download_offer_file(offer, self.config.work_dir / "files")
            self.emitter.progress(job_id, "checking")
            queues = {k: w.queue_length for k, w in self.workers.items()}
            outcome = check_offer_file(path, offer, self.config.machines, queues)
        except DownloadError as exc:
            self._decline(job_id, str(exc))
            return
        except Exception as exc:
            log.exception("offer intake failed", extra={"job_id": job_id})
            self._decline(job_id, f"node error while checking: {exc}")
            return
        if outcome.machine is None:
            self._decline(job_id, outcome.reason)
            return
        job = AcceptedJob(offer, path, outcome.analysis, outcome.machine.id)
        if resumed is JobState.ACCEPTED:
            self._accept(job, announce=False)
        elif self.config.auto_accept:
            self._accept(job)
        else:
            self._awaiting[job_id] = job
            self.journal.set_state(job_id, JobState.AWAITING, machine_id=outcome.machine.id)
            self.emitter.progress(job_id, "awaiting_acceptance", machine_id=outcome.machine.id)
