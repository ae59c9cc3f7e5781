"""The wire protocol: topics refuse ids that could escape a node's own topics, and malformed
payloads raise WireError (never a pydantic traceback)."""

from __future__ import annotations

import json

import pytest

from cofab_wire import (
    EventType,
    JobEvent,
    JobOffer,
    NodeStatus,
    Topics,
    WireError,
    parse_event,
    parse_job_message,
    parse_status,
)


def test_topics_are_built_under_the_prefix():
    topics = Topics("cofab/v1")
    assert topics.jobs("lab-a") == "cofab/v1/nodes/lab-a/jobs"
    assert topics.node_of("cofab/v1/nodes/lab-a/events") == ("lab-a", "events")


@pytest.mark.parametrize("bad", ["+", "#", "a/b", "", "../x", "a b", "x" * 65])
def test_ids_that_could_escape_a_topic_are_refused(bad):
    with pytest.raises(ValueError):
        Topics().jobs(bad)


@pytest.mark.parametrize(
    "topic",
    ["cofab/v1/nodes/a/b/events", "other/nodes/a/events", "cofab/v1/nodes/+/events", "cofab/v1/nodes/a/secrets"],
)
def test_foreign_topics_are_not_parsed_as_node_topics(topic):
    with pytest.raises(ValueError):
        Topics().node_of(topic)


def _offer(**overrides) -> JobOffer:
    fields = dict(
        job_id="j1",
        order_id="o1",
        design_id="d1",
        file_name="a.stl",
        file_sha256="a" * 64,
        file_size=10,
        download_url="http://h/f",
        download_token="t",
        token_expires_at=1.0,
        material="PLA",
        bbox_mm=(1, 2, 3),
    )
    return JobOffer(**{**fields, **overrides})


def test_messages_round_trip():
    offer = _offer()
    assert parse_job_message(offer.to_bytes()) == offer
    event = JobEvent(job_id="j1", node_id="n1", seq=3, type=EventType.PROGRESS, stage="running", percent=40)
    assert parse_event(event.to_bytes()) == event
    status = NodeStatus(node_id="n1", online=False)
    assert parse_status(status.to_bytes()).online is False


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b"{}",
        json.dumps({"kind": "event", "job_id": "j", "node_id": "n", "seq": 0, "type": "progress"}).encode(),
        json.dumps({"kind": "event", "job_id": "j", "node_id": "n", "seq": 1, "type": "exploded"}).encode(),
        json.dumps(
            {"kind": "event", "job_id": "j", "node_id": "n", "seq": 1, "type": "progress", "percent": 250}
        ).encode(),
        json.dumps({"v": 2, "kind": "event", "job_id": "j", "node_id": "n", "seq": 1, "type": "progress"}).encode(),
        b"{" * 100_000,
        b"x" * 300_000,
    ],
)
def test_malformed_events_raise_wire_error(payload):
    with pytest.raises(WireError):
        parse_event(payload)


def test_an_offer_with_a_bad_hash_is_refused():
    bad = json.loads(_offer().to_bytes())
    bad["file_sha256"] = "../../etc/passwd"
    with pytest.raises(WireError, match="file_sha256"):
        parse_job_message(json.dumps(bad).encode())
