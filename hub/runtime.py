"""The hub's runtime: its long-lived parts, built from the one `Settings` given to
`hub.app.create_app`, started in a declared order and stopped in reverse (`hub.lifecycle`).
Routes reach them as `hub.deps.Services` (a `HubServices`).

Every part is built before any starts, and each gets what it calls when it is built: the MQTT
session first (the relay publishes through it, the inbound handler acknowledges through it),
then the relay, then the inbound handler; the session's two callbacks are bound to those
before start (`LateBound`). The order, and why it is that order, is in `Messaging.declare`.

Several replicas may run on one PostgreSQL database (the scale path): each has its own MQTT
session (`COFAB_REPLICA_ID`), relay, sweeper and in-memory registry; they share the outbox
(claims), the job rows (row locks) and the node events (a shared subscription). One replica
supervises Mosquitto; the others set `COFAB_BROKER_MANAGED=false` and connect to its hub
listener with the same hub credentials. On SQLite there is one process and `ctx.lock`
serialises its job mutations.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from paho.mqtt.client import MQTTMessage
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cofab_wire import EventAck, JobEvent, Topics
from hub import migrate
from hub.auth.roles import Role
from hub.auth.service import ensure_token
from hub.broker import BrokerSettings, MosquittoSupervisor
from hub.config import Settings
from hub.db import make_engine
from hub.dispatch.context import DispatchContext
from hub.dispatch.handlers import InboundHandler
from hub.dispatch.mqtt import HubMqtt
from hub.dispatch.relay import OutboxRelay
from hub.files.store import FileStore
from hub.lifecycle import LateBound, Lifecycle, OnStop
from hub.maintenance import OfferSweeper, RegistryRefresher, UploadPurger
from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Weights
from hub.routing.registry import LabRegistry
from hub.routing.sync import load_fairness, load_registry


@dataclass(frozen=True)
class Messaging:
    """The parts that talk to the broker; absent when `mqtt_enabled` is off (API-only tests)."""

    broker: MosquittoSupervisor | None
    """The supervised Mosquitto, when this replica manages it (`broker_managed`)."""
    mqtt: HubMqtt
    relay: OutboxRelay
    inbound: InboundHandler
    sweeper: OfferSweeper
    refresher: RegistryRefresher | None
    """None when `registry_refresh_s` is 0."""

    def declare(self, lifecycle: Lifecycle) -> None:
        """Started in this order, so stopped in reverse: periodic work first, then the inbound
        queue is drained and its messages acknowledged while the session is still up, then
        the relay settles its rows, then the session closes and the broker stops. The inbound
        worker starts after the session: what arrives meanwhile waits in its queue."""
        if self.broker is not None:
            lifecycle.add("broker", self.broker)
        lifecycle.add("mqtt session", self.mqtt)
        lifecycle.add("outbox relay", self.relay)
        lifecycle.add("inbound handler", self.inbound)
        lifecycle.add("offer sweeper", self.sweeper)
        if self.refresher is not None:
            lifecycle.add("registry refresher", self.refresher)


@dataclass
class HubServices:
    settings: Settings
    engine: Engine
    files: FileStore
    dispatch: DispatchContext
    registry_lock: threading.RLock
    """Held while a status is written and copied into the registry, and while the registry is
    reloaded, so a reload never puts back what a status just replaced."""
    lifecycle: Lifecycle
    messaging: Messaging | None = None

    @property
    def registry(self) -> LabRegistry:
        return self.dispatch.registry

    @property
    def broker_accounts(self) -> MosquittoSupervisor | None:
        """What issues a node's broker login: the supervised Mosquitto, if this replica runs it."""
        return self.messaging.broker if self.messaging is not None else None

    @property
    def mqtt(self) -> HubMqtt | None:
        return self.messaging.mqtt if self.messaging is not None else None

    @property
    def relay(self) -> OutboxRelay | None:
        return self.messaging.relay if self.messaging is not None else None

    def notify_outbox(self) -> None:
        """Wake the relay after a commit that wrote outbox rows (without MQTT there is none)."""
        if self.messaging is not None:
            self.messaging.relay.notify()

    def start(self) -> None:
        """Start every part; if one fails, those already started are stopped and it is raised."""
        self.lifecycle.start()
        self.notify_outbox()  # rows left from before a restart go out without waiting for a poll

    def stop(self) -> None:
        self.lifecycle.stop()


def start_services(settings: Settings) -> HubServices:
    services = build_services(settings)
    services.start()
    return services


def build_services(settings: Settings) -> HubServices:
    """Migrate the database and build every part from `settings`; nothing is started yet."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        ctx = _dispatch_context(settings, engine)
        _load_state(settings, engine, ctx)
        files = FileStore(settings.files_dir)
        registry_lock = threading.RLock()
        messaging = _messaging(settings, engine, ctx, registry_lock) if settings.mqtt_enabled else None
    except BaseException:
        engine.dispose()
        raise
    lifecycle = Lifecycle()
    lifecycle.add("database", OnStop(engine.dispose))
    lifecycle.add("upload purge", UploadPurger(engine, files, interval_s=settings.upload_purge_interval_s))
    if messaging is not None:
        messaging.declare(lifecycle)
    return HubServices(
        settings=settings,
        engine=engine,
        files=files,
        dispatch=ctx,
        registry_lock=registry_lock,
        lifecycle=lifecycle,
        messaging=messaging,
    )


def _dispatch_context(settings: Settings, engine: Engine) -> DispatchContext:
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
    return DispatchContext(
        topics=Topics(settings.mqtt_prefix),
        public_url=settings.public_url,
        secret_key=settings.secret_key,
        token_ttl_s=settings.download_token_ttl_s,
        registry=LabRegistry(),
        fairness=FairnessLedger(settings.fairness_window_days * 86400),
        weights=weights,
        offer_timeout_s=settings.offer_timeout_s,
        routing_patience_s=settings.routing_patience_s,
        lock=lock,
    )


def _load_state(settings: Settings, engine: Engine, ctx: DispatchContext) -> None:
    """The bootstrap admin token, then the registry and fairness ledger as the database holds them."""
    with Session(engine) as session:
        if settings.admin_token:
            ensure_token(session, role=Role.ADMIN, name="bootstrap admin", token=settings.admin_token)
            session.commit()
        load_registry(session, ctx.registry)
        load_fairness(session, ctx.fairness)


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


def _broker_settings(settings: Settings, hub_password: str) -> BrokerSettings:
    """The supervised Mosquitto: the nodes' listener at `mqtt_host:mqtt_port`, the hub's own
    next to it (loopback), and its files under the data dir."""
    return BrokerSettings(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        hub_port=settings.broker_hub_port or settings.mqtt_port + 1,
        data_dir=settings.broker_dir,
        prefix=settings.mqtt_prefix,
        hub_username=settings.mqtt_username,
        hub_password=hub_password,
    )


def _messaging(settings: Settings, engine: Engine, ctx: DispatchContext, registry_lock: threading.RLock) -> Messaging:
    broker_settings = _broker_settings(settings, _hub_broker_password(settings)) if settings.broker_managed else None
    topics = ctx.topics
    # The session is built first; what it calls (the inbound handler, the relay) is bound below.
    deliver: LateBound[[MQTTMessage]] = LateBound("the hub session's message handler")
    published: LateBound[[int]] = LateBound("the hub session's publish callback")
    mqtt = _hub_session(settings, topics, broker_settings, on_message=deliver, on_published=published)
    relay = OutboxRelay(
        engine,
        mqtt,
        owner=settings.replica_id,
        write_lock=ctx.lock,
        restart_window_s=max(60.0, settings.offer_timeout_s),
        retention_s=settings.outbox_retention_s,
    )

    def node_back(node_id: str) -> None:
        relay.node_back(topics.jobs(node_id))

    def broker_restarted() -> None:
        relay.requeue_after_broker_restart()

    inbound = InboundHandler(
        engine,
        topics,
        ctx,
        after_commit=relay.notify,
        ack=mqtt.ack,
        registry_lock=registry_lock,
        on_node_online=node_back,
        confirm=_event_acks(mqtt, topics),
    )
    deliver.bind(inbound.submit)
    published.bind(lambda _mid: relay.notify())
    broker = None if broker_settings is None else MosquittoSupervisor(broker_settings, on_restart=broker_restarted)
    sweeper = OfferSweeper(engine, ctx, interval_s=settings.maintenance_interval_s, after_change=relay.notify)
    refresher = None
    if settings.registry_refresh_s > 0:
        refresher = RegistryRefresher(engine, ctx, interval_s=settings.registry_refresh_s, lock=registry_lock)
    return Messaging(broker, mqtt, relay, inbound, sweeper, refresher)


def _hub_session(
    settings: Settings,
    topics: Topics,
    broker: BrokerSettings | None,
    *,
    on_message: Callable[[MQTTMessage], None],
    on_published: Callable[[int], None],
) -> HubMqtt:
    """The hub's MQTT session: to the supervised broker's hub listener when this replica runs
    it, else to `mqtt_host:mqtt_port` (another replica's broker, or one run apart)."""
    host, port, password = settings.mqtt_host, settings.mqtt_port, settings.mqtt_password or None
    if broker is not None:
        (host, port), password = broker.hub_endpoint, broker.hub_password
    return HubMqtt(
        host=host,
        port=port,
        username=settings.mqtt_username,
        password=password,
        topics=topics,
        on_message=on_message,
        client_id=f"{settings.mqtt_username}-{settings.replica_id}",
        on_published=on_published,
    )


def _event_acks(mqtt: HubMqtt, topics: Topics) -> Callable[[str, JobEvent, bool], None]:
    def confirm(node_id: str, event: JobEvent, withdrawn: bool) -> None:
        """QoS 0: a lost EventAck only makes the node send the event again, and it is acked again.
        paho never refuses a QoS 0 publish for its queue's size; while disconnected it drops it
        (MQTT_ERR_NO_CONN), and the node re-sends after it reconnects."""
        ack = EventAck(job_id=event.job_id, seq=event.seq, withdrawn=withdrawn)
        mqtt.publish(topics.jobs(node_id), ack.to_bytes(), qos=0)

    return confirm
