"""Acknowledged outbox rows are deleted after the retention (by the relay), on SQLite and
PostgreSQL; unsent rows, offers whose deadline has not passed and anything a broker restart
may still send again are kept."""

from __future__ import annotations

from sqlmodel import Session, select, update

from hub.config import Settings
from hub.dispatch import relay as relay_module
from hub.dispatch.models import OutboxMessage
from hub.dispatch.relay import OutboxRelay
from hub.timeutil import now


def test_acknowledged_rows_older_than_the_retention_are_deleted(hub, place):
    place(5)
    at = now()
    with Session(hub.engine) as session:
        ids = list(session.exec(select(OutboxMessage.id).order_by(OutboxMessage.id)))
        old = at - 10 * 86400
        for row_id, sent_at, expires_at in (
            (ids[0], old, None),  # an old command: goes
            (ids[1], old, at - 60),  # an offer long past its deadline: goes
            (ids[2], old, at + 600),  # an offer still open: stays
            (ids[3], at - 10, None),
        ):  # acknowledged 10 s ago: stays
            session.exec(
                update(OutboxMessage).where(OutboxMessage.id == row_id).values(sent_at=sent_at, expires_at=expires_at)
            )
        session.commit()  # ids[4] stays unsent
    relay = OutboxRelay(hub.engine, mqtt=None, retention_s=3600, restart_window_s=60, write_lock=hub.dispatch.lock)
    assert relay.prune(at=at) == 2 and relay.counts["pruned"] == 2
    with Session(hub.engine) as session:
        assert list(session.exec(select(OutboxMessage.id).order_by(OutboxMessage.id))) == ids[2:]
    assert relay.prune(at=at) == 0


def test_prunes_in_batches(hub, place, monkeypatch):
    place(7)
    with Session(hub.engine) as session:
        session.exec(update(OutboxMessage).values(sent_at=now() - 86400, expires_at=None))
        session.commit()
    monkeypatch.setattr(relay_module, "PRUNE_BATCH", 3)
    assert OutboxRelay(hub.engine, mqtt=None, retention_s=600, restart_window_s=60).prune() == 7


def test_retention_zero_keeps_everything_and_a_short_one_covers_a_broker_restart(hub, place):
    place(2)
    with Session(hub.engine) as session:
        session.exec(update(OutboxMessage).values(sent_at=now() - 300, expires_at=None))
        session.commit()
    assert OutboxRelay(hub.engine, mqtt=None, retention_s=0).prune() == 0
    short = OutboxRelay(hub.engine, mqtt=None, retention_s=1, restart_window_s=300)
    assert short.retention_s == 300 + relay_module.BROKER_LOSS_WINDOW_S
    assert short.prune() == 0  # sent 300 s ago: a broker restart may still send commands that old
    assert OutboxRelay(hub.engine, mqtt=None, retention_s=1, restart_window_s=60).prune() == 2


def test_the_retention_is_a_setting_with_a_day_by_default(monkeypatch):
    assert Settings().outbox_retention_s == 86400
    monkeypatch.setenv("COFAB_OUTBOX_RETENTION_S", "0")
    assert Settings().outbox_retention_s == 0
