"""The relay against a real Mosquitto: offers arrive with their MQTT message expiry, rows are
marked sent on PUBACK, and after the broker is SIGKILLed (losing what it had acknowledged but
not saved) the hub sends the unanswered offers again; a node that already had one ignores the
repeat, as its journal does."""

from __future__ import annotations

import json
import os
import signal
import time
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from fabnode.journal import Journal
from hub.app import create_app
from hub.config import Settings
from hub.dispatch import outbox
from hub.dispatch.models import OutboxMessage
from hub.dispatch.mqtt import HubMqtt
from hub.dispatch.relay import OutboxRelay
from tests.factories import ADMIN, design_id, issue_tokens, lab_status, place_order, register_lab
from tests.hub.dispatch.conftest import LABS, NEAR_A
from tests.mqtt_support import Probe, free_port, hub_mqtt, wait_until

pytestmark = pytest.mark.integration

NEAR_B = (LABS[1][1] + 0.001, LABS[1][2] + 0.001)


def start_relay(hub, broker) -> tuple[HubMqtt, OutboxRelay]:
    mqtt = hub_mqtt(hub.dispatch.topics, broker, client_id="cofab-hub-test", on_published=lambda _mid: relay.notify())
    relay = OutboxRelay(hub.engine, mqtt, owner="test", write_lock=hub.dispatch.lock)
    assert mqtt.start()
    relay.start()
    return mqtt, relay


def node_probe(broker, node_id: str, *, persistent: bool = False) -> Probe:
    password = broker.add_node(node_id)
    host, port = broker.settings.node_endpoint
    wait_until(lambda: broker.credentials.has_user(node_id))
    return Probe((host, port), node_id, password, client_id=node_id, persistent=persistent)


def unsent(hub) -> int:
    with Session(hub.engine) as session:
        return outbox.pending_count(session)


def test_offers_reach_the_node_with_their_expiry_and_are_marked_sent(hub, place, broker):
    node = node_probe(broker, "lab-a").start("cofab/v1/nodes/lab-a/jobs")
    mqtt, relay = start_relay(hub, broker)
    try:
        order = place(3)
        wait_until(lambda: len(node.messages) == 3, what="three offers at lab-a")
        wait_until(lambda: unsent(hub) == 0, what="rows marked sent")
        offers = [json.loads(m.payload) for m in node.messages]
        with Session(hub.engine) as session:
            written = [r.job_id for r in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]
        assert [o["job_id"] for o in offers] == written  # in the order they were written
        assert set(written) == {j["id"] for j in order["jobs"]}
        for message, offer in zip(node.messages, offers):
            expiry = message.properties.MessageExpiryInterval
            assert 0 < expiry <= hub.settings.offer_timeout_s
            assert abs((offer["deadline"] - time.time()) - expiry) <= 5  # deadline - now, within slack
    finally:
        relay.stop()
        mqtt.stop()
        node.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_hub(request, tmp_path):
    """A whole hub as `cofab hub run` starts it: its own supervised Mosquitto, relay, event
    worker; two active labs registered through the API (with their broker logins)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = Settings(
        data_dir=tmp_path / "hub",
        database_url=url,
        admin_token=ADMIN,
        public_url="http://testserver",
        mqtt_port=free_port(),
        broker_hub_port=free_port(),
        replica_id="test",
        maintenance_interval_s=0.5,
    )
    with TestClient(create_app(settings)) as api:
        services = api.app.state.services
        services.broker_accounts._watchdog_interval = 0.1
        logins = {
            node_id: register_lab(api, node_id, lat, lon, online=False)["mqtt"]["password"]
            for node_id, lat, lon in LABS[:2]
        }
        people = issue_tokens(api, ("maker", "designer"))
        yield SimpleNamespace(
            api=api,
            services=services,
            logins=logins,
            maker=people["maker"],
            design_id=design_id(api, people["designer"]),
        )


def live_node(hub, node_id: str, *, persistent: bool = False) -> Probe:
    """A node as the hub sees one: it subscribes to its jobs, then says it is online (retained)."""
    host, port = hub.services.broker_accounts.settings.node_endpoint
    status = lab_status(node_id)
    probe = Probe(
        (host, port),
        node_id,
        hub.logins[node_id],
        client_id=node_id,
        persistent=persistent,
        on_subscribed=lambda client: client.publish(
            f"cofab/v1/nodes/{node_id}/status", status.to_bytes(), qos=1, retain=True
        ),
    )
    return probe.start(f"cofab/v1/nodes/{node_id}/jobs")


def online(hub, node_id: str) -> bool:
    lab = hub.services.registry.get(node_id)
    return lab is not None and lab.online


def test_offers_a_killed_broker_lost_are_sent_again_and_a_repeat_is_ignored(live_hub, tmp_path):
    hub, supervisor = live_hub, live_hub.services.broker_accounts
    lab_a = live_node(hub, "lab-a")
    lab_b = live_node(hub, "lab-b", persistent=True)
    wait_until(lambda: online(hub, "lab-a") and online(hub, "lab-b"), what="both labs online at the hub")
    lab_b.stop()  # away without a Last Will: the hub still counts it online; its offers queue in the broker

    def place(where) -> str:
        return place_order(hub.api, hub.maker, hub.design_id, where=where, quantity=1)["jobs"][0]["id"]

    job_a, job_b = place(NEAR_A), place(NEAR_B)
    wait_until(lambda: len(lab_a.messages) == 1 and unsent(hub.services) == 0, what="both offers acknowledged")
    # The broker acknowledged both and holds lab-b's in its session. Killed before its
    # autosave (10 s), it loses that session and the offer in it.
    os.kill(supervisor.pid, signal.SIGKILL)
    wait_until(lambda: supervisor.restart_count == 1, what="the watchdog to restart the broker")
    wait_until(lambda: hub.services.relay.counts["requeued"] >= 2, what="the unanswered offers requeued")
    lab_b = live_node(hub, "lab-b")  # comes back to a broker that has no session for it
    wait_until(lambda: len(lab_b.messages) >= 1, timeout=20, what="lab-b's offer after the restart")
    assert {json.loads(m.payload)["job_id"] for m in lab_b.messages} == {job_b}
    wait_until(lambda: len(lab_a.messages) >= 2, timeout=20, what="lab-a's repeated offer")
    # lab-a had its offer already: the node's journal takes every repeat as the same job.
    journal = Journal(tmp_path / "journal.db")
    verdicts = [
        journal.remember_offer(json.loads(m.payload)["job_id"], m.payload.decode()) for m in list(lab_a.messages)
    ]
    journal.close()
    assert {json.loads(m.payload)["job_id"] for m in lab_a.messages} == {job_a}
    assert verdicts[0] is True and not any(verdicts[1:])
    lab_a.stop()
    lab_b.stop()
