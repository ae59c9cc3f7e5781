"""Builds the hub's long-lived parts from settings, starts them in order and stops them in reverse."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cofab_wire import EventAck, JobEvent, Topics
from hub import migrate
from hub.auth.roles import Role
from hub.auth.service import ensure_token
from hub.config import Settings
from hub.db import make_engine
from hub.dispatch.handlers import InboundHandler
from hub.dispatch.mqtt import HubMqtt
from hub.dispatch.relay import OutboxRelay
from hub.files.store import FileStore
from hub.maintenance import OfferSweeper
from hub.nodes.service import BrokerAccounts
from hub.orders.service import DispatchContext
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
    _stoppers: list = field(default_factory=list)

    def notify_outbox(self) -> None:
        if self.relay is not None:
            self.relay.notify()

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
    weights = Weights(km=settings.weight_km, lead_hour=settings.weight_lead_hour, price=settings.weight_price,
                      fairness=settings.weight_fairness, designer_share=settings.designer_share,
                      coop_fee=settings.coop_fee)
    ctx = DispatchContext(topics=topics, public_url=settings.public_url, secret_key=settings.secret_key,
                          token_ttl_s=settings.download_token_ttl_s, registry=registry, fairness=fairness,
                          weights=weights, offer_timeout_s=settings.offer_timeout_s,
                          routing_patience_s=settings.routing_patience_s)
    services = HubServices(settings=settings, engine=engine, files=FileStore(settings.files_dir), dispatch=ctx,
                           registry=registry)
    with Session(engine) as session:
        if settings.admin_token:
            ensure_token(session, role=Role.ADMIN, name="bootstrap admin", token=settings.admin_token)
            session.commit()
        load_registry(session, registry)
        load_fairness(session, fairness)
    try:
        if settings.mqtt_enabled:
            _start_messaging(services)
    except BaseException:
        services.stop()
        raise
    return services


def _start_messaging(services: HubServices) -> None:
    settings = services.settings
    password = _hub_broker_password(settings) if settings.broker_managed or settings.mqtt_password else None
    hub_host, hub_port = settings.mqtt_host, settings.mqtt_port
    if settings.broker_managed:
        from hub.broker import BrokerSettings, MosquittoSupervisor

        supervisor = MosquittoSupervisor(BrokerSettings(
            host=settings.mqtt_host, port=settings.mqtt_port, data_dir=settings.broker_dir,
            prefix=settings.mqtt_prefix, hub_username=settings.mqtt_username, hub_password=password,
            hub_port=settings.broker_hub_port or settings.mqtt_port + 1),
            on_restart=services.notify_outbox)
        supervisor.start()
        services._stoppers.append(supervisor.stop)
        services.broker_accounts = supervisor
        hub_host, hub_port = supervisor.settings.hub_endpoint
    topics = services.dispatch.topics

    def acknowledge(node_id: str, event: JobEvent, withdrawn: bool) -> None:
        """QoS 0: a lost ack only makes the node send the event again, and it is acked again."""
        ack = EventAck(job_id=event.job_id, seq=event.seq, withdrawn=withdrawn)
        mqtt.publish(topics.jobs(node_id), ack.to_bytes(), qos=0)

    inbound = InboundHandler(services.engine, topics, services.dispatch, after_commit=services.notify_outbox,
                             acknowledge=acknowledge)
    mqtt = HubMqtt(host=hub_host, port=hub_port, username=settings.mqtt_username,
                   password=password, topics=services.dispatch.topics, on_message=inbound)
    relay = OutboxRelay(services.engine, mqtt)
    sweeper = OfferSweeper(services.engine, services.dispatch, interval_s=settings.maintenance_interval_s,
                           after_change=services.notify_outbox)
    services.inbound, services.mqtt, services.relay = inbound, mqtt, relay
    mqtt.start()
    services._stoppers.append(mqtt.stop)
    relay.start()
    services._stoppers.append(relay.stop)
    sweeper.start()
    services._stoppers.append(sweeper.stop)
    relay.notify()
