"""Live-stream slots per token (`hub.guard.streams`): a real server with real streams, and the
slots shared by two storages on one Redis."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest
from fastapi.routing import APIRoute

from hub.guard import streams
from hub.guard.settings import GuardSettings
from hub.guard.storage import Counters
from hub.guard.streams import StreamSlots, hold_stream_slot
from hub.web.stream import MAX_STREAM_S
from hub.web.stream import router as stream_router
from tests.factories import ADMIN, bearer
from tests.hub.api.test_serving import served  # noqa: F401  (the hub behind a real uvicorn server)


def _register_lab(client: httpx.Client) -> str:
    response = client.post(
        "/api/v1/nodes",
        headers=bearer(ADMIN),
        json={
            "id": "lab-1",
            "name": "lab 1",
            "lat": 41.4,
            "lon": 2.17,
            "machines": [{"machine_id": "p1", "build_volume_mm": [200, 200, 200], "materials": ["PLA"]}],
        },
    )
    assert response.status_code == 201, response.text
    return "/api/v1/labs/lab-1/console/stream"


def test_a_token_holds_at_most_its_streams_and_a_closed_one_frees_its_slot(served):  # noqa: F811
    with httpx.Client(base_url=served, timeout=30) as client, ExitStack() as open_streams:
        path = _register_lab(client)
        held, most = [], GuardSettings().streams_per_token
        for _ in range(most):
            response = open_streams.enter_context(client.stream("GET", path, headers=bearer(ADMIN)))
            assert response.status_code == 200
            held.append(response)
        with client.stream("GET", path, headers=bearer(ADMIN)) as refused:
            assert refused.status_code == 429
            refused.read()
        assert refused.headers["Retry-After"] == str(streams.RETRY_AFTER_S)
        assert refused.json()["detail"] == (
            f"this token already has {most} live streams open, the most it may; close one (another tab or window); "
            f"retry in {streams.RETRY_AFTER_S} s"
        )
        held[0].close()  # the server notices within a poll (0.5 s) and the stream's slot is released
        deadline = time.monotonic() + 10
        while True:
            with client.stream("GET", path, headers=bearer(ADMIN)) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the closed stream's slot was not released"
            time.sleep(0.2)


def test_both_stream_routes_take_a_slot():
    streaming = [r for r in stream_router.routes if isinstance(r, APIRoute)]
    assert sorted(r.path for r in streaming) == [
        "/api/v1/labs/{node_id}/console/stream",
        "/api/v1/orders/{order_id}/stream",
    ]
    for route in streaming:
        assert any(dep.call is hold_stream_slot for dep in route.dependant.dependencies), route.path


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_slots_are_leases_that_end(storage, monkeypatch, request):
    settings = request.getfixturevalue("redis_limits") if storage == "redis" else GuardSettings()
    slots = StreamSlots(Counters(settings), per_owner=2)
    first, second = slots.take("7"), slots.take("7")
    assert first and second and slots.take("7") is None
    assert slots.take("8") is not None  # another token's slots are its own
    slots.release("7", first)
    assert slots.take("7") is not None
    monkeypatch.setattr(streams, "SLOT_LEASE_S", 0.2)  # a replica that died holding slots
    slots = StreamSlots(Counters(settings), per_owner=1)
    assert slots.take("9") is not None and slots.take("9") is None
    time.sleep(0.3)
    assert slots.take("9") is not None


def test_two_instances_share_slots_through_redis(redis_limits):
    one, other = (StreamSlots(Counters(redis_limits), per_owner=3) for _ in range(2))
    taken = [one.take("5"), other.take("5"), one.take("5")]
    assert all(taken)
    assert other.take("5") is None and one.take("5") is None
    other.release("5", taken[0])  # released through the other replica
    assert other.take("5") is not None


def test_a_lease_outlasts_every_stream():
    assert streams.SLOT_LEASE_S > MAX_STREAM_S
