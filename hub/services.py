"""Builds the hub's long-lived parts from settings, starts them in order and stops them in reverse.

Several replicas may run on one PostgreSQL database (the scale path): each has its own MQTT
session (`COFAB_REPLICA_ID`), relay, sweeper and in-memory registry; they share the outbox
(claims), the job rows (row locks) and the node events (a shared subscription). One replica
supervises Mosquitto; the others set `COFAB_BROKER_MANAGED=false` and connect to its hub
listener with the same hub credentials. On SQLite there is one process and `ctx.lock`
serialises its job mutations.
"""

from __future__ import annotations

import logging
import secrets
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cofab_wire import EventAck, JobEvent, Topics
from hub import migrate
from hub.auth.roles import Role
from hub.auth.service import ensure_token
from hub.config import Settings
from hub.db import make_engine
from hub.dispatch.context import DispatchContext
from hub.dispatch.handlers import InboundHandler
from hub.dispatch.mqtt import HubMqtt
from hub.dispatch.relay import OutboxRelay
from hub.files.store import FileStore
from hub.maintenance import OfferSweeper, RegistryRefresher, UploadPurger
from hub.nodes.service import BrokerAccounts
from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Weights
from hub.routing.registry import LabRegistry
from hub.routing.sync import load_fairness, load_registry

log = logging.getLogger(__name__)


@dataclass
class HubServices:
    settings: Settings
    engine: Engine
    files: FileStore
    dispatch: DispatchContext
    registry: LabRegistry
    broker_accounts: BrokerAccounts | None = None
    mqtt: HubMqtt | None = None
    relay: OutboxRelay | None = None
    inbound: InboundHandler | None = None
    refresher: RegistryRefresher | None = None
    # Held while a status is written and copied into the registry, and while the registry is
    # reloaded, so a reload never puts back what a status just replaced.
    registry_lock: threading.RLock = field(default_factory=threading.RLock)
    _stoppers: list = field(default_factory=list)

    def notify_outbox(self) -> None:
        if self.relay is not None:
            self.relay.notify()

    def on_broker_restart(self) -> None:
        """The supervised broker died and is back: what it lost is sent again from the outbox."""
        if self.relay is not None:
            self.relay.requeue_after_broker_restart()

    @property
    def mqtt_client_id(self) -> str:
        return f"{self.settings.mqtt_username}-{self.settings.replica_id}"

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:
                log.exception("error while stopping")
        self._stoppers.clear()
        self.engine.dispose()


def _hub_broker_password(settings: Settings) -> str:
    """The hub's own broker password: from settings, or generated once and kept in the data dir."""
    if settings.mqtt_password:
        return settings.mqtt_password
    path = settings.broker_dir / "hub.secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    path.write_text(value)
    path.chmod(0o600)
    return value


def start_services(settings: Settings) -> HubServices:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    migrate.upgrade(url)
    engine = make_engine(url)
    topics = Topics(settings.mqtt_prefix)
    registry = LabRegistry()
    fairness = FairnessLedger(settings.fairness_window_days * 86400)
    weights = Weights(
        km=settings.weight_km,
        lead_hour=settings.weight_lead_hour,
        price=settings.weight_price,
        fairness=settings.weight_fairness,
        designer_share=settings.designer_share,
        coop_fee=settings.coop_fee,
    )
    # SQLite: one process, one writer; the lock keeps its job mutations in turn. PostgreSQL:
    # row locks do that, across replicas too, and a process-wide lock would only queue them.
    lock = threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
    ctx = DispatchContext(
        topics=topics,
        public_url=settings.public_url,
        secret_key=settings.secret_key,
        token_ttl_s=settings.download_token_ttl_s,
        registry=registry,
        fairness=fairness,
        weights=weights,
        offer_timeout_s=settings.offer_timeout_s,
        routing_patience_s=settings.routing_patience_s,
        lock=lock,
    )
    services = HubServices(
        settings=settings, engine=engine, files=FileStore(settings.files_dir), dispatch=ctx, registry=registry
    )
    with Session(engine) as session:
        if settings.admin_token:
            ensure_token(session, role=Role.ADMIN, name="bootstrap admin", token=settings.admin_token)
            session.commit()
        load_registry(session, registry)
        load_fairness(session, fairness)
    try:
        _start_upload_purge(services)
        if settings.mqtt_enabled:
            _start_messaging(services)
    except BaseException:
        services.stop()
        raise
    return services


def _start_upload_purge(services: HubServices) -> None:
    """Purge expired uploads now (a hub that was down for a day comes back with a clean
    staging area) and then every `upload_purge_interval_s`; a failed start-up purge is logged
    and left to the next run rather than keeping the hub down."""
    purger = UploadPurger(services.engine, services.files, interval_s=services.settings.upload_purge_interval_s)
    try:
        purger.purge()
    except Exception:
        log.exception("start-up purge of expired uploads failed; the periodic purge will try again")
    if services.settings.upload_purge_interval_s > 0:
        purger.start()
        services._stoppers.append(purger.stop)


def _start_messaging(services: HubServices) -> None:
    settings = services.settings
    password = _hub_broker_password(settings) if settings.broker_managed or settings.mqtt_password else None
    hub_host, hub_port = settings.mqtt_host, settings.mqtt_port
    if settings.broker_managed:
        from hub.broker import BrokerSettings, MosquittoSupervisor

        supervisor = MosquittoSupervisor(
            BrokerSettings(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                data_dir=settings.broker_dir,
                prefix=settings.mqtt_prefix,
                hub_username=settings.mqtt_username,
                hub_password=password,
                hub_port=settings.broker_hub_port or settings.mqtt_port + 1,
            ),
            on_restart=services.on_broker_restart,
        )
        supervisor.start()
        services._stoppers.append(supervisor.stop)
        services.broker_accounts = supervisor
        hub_host, hub_port = supervisor.settings.hub_endpoint
    topics = services.dispatch.topics

    def confirm(node_id: str, event: JobEvent, withdrawn: bool) -> None:
        """QoS 0: a lost EventAck only makes the node send the event again, and it is acked again.
        paho never refuses a QoS 0 publish for its queue's size; while disconnected it drops it
        (MQTT_ERR_NO_CONN), and the node re-sends after it reconnects."""
        ack = EventAck(job_id=event.job_id, seq=event.seq, withdrawn=withdrawn)
        mqtt.publish(topics.jobs(node_id), ack.to_bytes(), qos=0)

    inbound = InboundHandler(
        services.engine,
        topics,
        services.dispatch,
        after_commit=services.notify_outbox,
        ack=lambda message: mqtt.ack(message),  # noqa: PLW0108 - mqtt is assigned below
        registry_lock=services.registry_lock,
        on_node_online=lambda node_id: relay.node_back(topics.jobs(node_id)),
        confirm=confirm,
    )
    mqtt = HubMqtt(
        host=hub_host,
        port=hub_port,
        username=settings.mqtt_username,
        password=password,
        topics=services.dispatch.topics,
        on_message=inbound.submit,
        client_id=services.mqtt_client_id,
        on_published=lambda _mid: services.notify_outbox(),
    )
    relay = OutboxRelay(
        services.engine,
        mqtt,
        owner=settings.replica_id,
        write_lock=services.dispatch.lock,
        restart_window_s=max(60.0, settings.offer_timeout_s),
        retention_s=settings.outbox_retention_s,
    )
    sweeper = OfferSweeper(
        services.engine,
        services.dispatch,
        interval_s=settings.maintenance_interval_s,
        after_change=services.notify_outbox,
    )
    services.inbound, services.mqtt, services.relay = inbound, mqtt, relay
    # Stopped in reverse: periodic work first, then the inbound queue is drained and its
    # messages acknowledged while the session is still up, then the relay settles its rows.
    inbound.start()
    mqtt.start()
    services._stoppers.append(mqtt.stop)
    relay.start()
    services._stoppers.append(relay.stop)
    services._stoppers.append(inbound.stop)
    sweeper.start()
    services._stoppers.append(sweeper.stop)
    if settings.registry_refresh_s > 0:
        refresher = RegistryRefresher(
            services.engine, services.dispatch, interval_s=settings.registry_refresh_s, lock=services.registry_lock
        )
        refresher.start()
        services._stoppers.append(refresher.stop)
        services.refresher = refresher
    relay.notify()
