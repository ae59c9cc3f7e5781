"""The node's journal (SQLite): the offers it holds, how far each job got, and every event the
hub has not yet acknowledged (an `EventAck` after the hub committed it).

A node agent may die at any moment (power cut, OOM, a lab member's Ctrl-C). On restart the
journal says which jobs were on which machine, so the agent asks the machine what really
happened instead of assuming, re-sends what the broker never acknowledged, and never starts a
job twice: a job is marked `starting` before the file goes to the machine and `running` once
the machine took it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cofab_wire import next_connection_epoch


class JobState(StrEnum):
    RECEIVED = "received"
    DECLINED = "declined"
    AWAITING = "awaiting_acceptance"
    ACCEPTED = "accepted"
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"


UNFINISHED = (JobState.AWAITING, JobState.ACCEPTED, JobState.STARTING, JobState.RUNNING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    offer TEXT NOT NULL,
    state TEXT NOT NULL,
    machine_id TEXT,
    remote_name TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    accept_seq INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sent_at REAL NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_unacked ON events(acked) WHERE acked = 0;
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""


@dataclass(frozen=True)
class JournalJob:
    job_id: str
    offer: dict
    state: JobState
    machine_id: str | None
    remote_name: str | None


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a power cut
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # connections -----------------------------------------------------------------------------
    def next_connection_epoch(self, previous: float | None = None, *, now: float | None = None) -> float:
        """The epoch of the node's next MQTT connection, kept here so it is later than every
        one before, across restarts too: a node whose clock stepped back between two runs
        would otherwise have its new connection's statuses taken as stale by the hub."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT value FROM settings WHERE key = 'connection_epoch'").fetchone()
                known = [value for value in (previous, row[0] if row else None) if value is not None]
                epoch = next_connection_epoch(max(known) if known else None, now=now)
                self._db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('connection_epoch', ?)", (epoch,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return epoch

    # jobs ------------------------------------------------------------------------------------
    def remember_offer(self, job_id: str, offer_json: str) -> bool:
        """Record a new offer; False if this job was seen before (a repeated offer)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO jobs(job_id, offer, state, updated_at) VALUES (?, ?, ?, ?)",
                (job_id, offer_json, JobState.RECEIVED.value, time.time()),
            )
            return cursor.rowcount == 1

    def claim_repeated_offer(self, job_id: str, offer_json: str) -> bool:
        """An offer for a job seen before: take it again only if that earlier attempt never
        reached a machine and is over (`received` left by a crash mid-intake, or `done`
        before any machine took it, e.g. withdrawn). The hub offers a job to this node again
        after it had released it (the node went offline), and must not wait for the deadline.
        Returns whether the caller should process the offer; the job restarts as `received`.
        """
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET offer = ?, state = ?, accept_seq = NULL, updated_at = ? "
                "WHERE job_id = ? AND state IN (?, ?) AND remote_name IS NULL",
                (
                    offer_json,
                    JobState.RECEIVED.value,
                    time.time(),
                    job_id,
                    JobState.RECEIVED.value,
                    JobState.DONE.value,
                ),
            )
            return cursor.rowcount == 1

    def set_state(
        self,
        job_id: str,
        state: JobState,
        *,
        machine_id: str | None = None,
        remote_name: str | None = None,
        accept_seq: int | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = ?, machine_id = COALESCE(?, machine_id), "
                "remote_name = COALESCE(?, remote_name), accept_seq = COALESCE(?, accept_seq), updated_at = ? "
                "WHERE job_id = ?",
                (state.value, machine_id, remote_name, accept_seq, time.time(), job_id),
            )

    def acceptance_confirmed(self, job_id: str) -> bool:
        """Whether the hub recorded this node's acceptance (its `accepted` event is acknowledged)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM jobs j JOIN events e ON e.job_id = j.job_id AND e.seq = j.accept_seq "
                "WHERE j.job_id = ? AND e.acked = 1",
                (job_id,),
            ).fetchone()
        return row is not None

    def job(self, job_id: str) -> JournalJob | None:
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, offer, state, machine_id, remote_name FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return _job(row) if row else None

    def unfinished(self) -> list[JournalJob]:
        marks = ",".join("?" for _ in UNFINISHED)
        with self._lock:
            rows = self._db.execute(
                f"SELECT job_id, offer, state, machine_id, remote_name FROM jobs "
                f"WHERE state IN ({marks}) ORDER BY updated_at",
                [s.value for s in UNFINISHED],
            )
            return [_job(row) for row in rows.fetchall()]

    # events ----------------------------------------------------------------------------------
    def append_event(self, job_id: str, build: Callable[[int], bytes]) -> tuple[int, bytes]:
        """Allocate the job's next sequence number and store the event built with it, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT last_seq FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                seq = (row[0] if row else self._max_event_seq(job_id)) + 1
                if row:
                    self._db.execute("UPDATE jobs SET last_seq = ? WHERE job_id = ?", (seq, job_id))
                payload = build(seq)
                cursor = self._db.execute(
                    "INSERT INTO events(job_id, seq, payload, sent_at) VALUES (?, ?, ?, ?)",
                    (job_id, seq, payload, time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            assert cursor.lastrowid is not None  # an INSERT into a rowid table sets it
            return cursor.lastrowid, payload

    def _max_event_seq(self, job_id: str) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?", (job_id,)).fetchone()
        return row[0]

    def ack(self, job_id: str, seq: int) -> int:
        """The hub recorded the job's events up to `seq`; returns how many were newly confirmed."""
        with self._lock:
            return self._db.execute(
                "UPDATE events SET acked = 1 WHERE job_id = ? AND seq <= ? AND acked = 0", (job_id, seq)
            ).rowcount

    def unacked(self, *, sent_before: float | None = None) -> list[tuple[int, bytes]]:
        """Events the hub has not confirmed, oldest first (only those last sent before a time)."""
        with self._lock:
            if sent_before is None:
                return self._db.execute("SELECT id, payload FROM events WHERE acked = 0 ORDER BY id").fetchall()
            return self._db.execute(
                "SELECT id, payload FROM events WHERE acked = 0 AND sent_at < ? ORDER BY id", (sent_before,)
            ).fetchall()

    def mark_sent(self, event_ids: list[int]) -> None:
        with self._lock:
            now = time.time()
            self._db.executemany("UPDATE events SET sent_at = ? WHERE id = ?", [(now, i) for i in event_ids])


def _job(row) -> JournalJob:
    return JournalJob(
        job_id=row[0], offer=json.loads(row[1]), state=JobState(row[2]), machine_id=row[3], remote_name=row[4]
    )
