"""A live stream holds no database connection while it streams: the session that checked the
caller and the order is closed before the first byte, and each poll borrows a connection for
one query. A review found 16 open streams holding 16 pooled connections for up to 30 minutes (an
unrelated search waited 27 s); this guards against that coming back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from fastapi import FastAPI

from hub.app import create_app
from tests.factories import ADMIN, bearer, design_id, issue_tokens, place_order, register_lab, report_status
from tests.http_support import serving


@pytest.fixture
def server(hub_settings) -> Iterator[tuple[FastAPI, str]]:
    app = create_app(hub_settings)
    with serving(app) as url:
        yield app, url


def _checked_out(app: FastAPI) -> int:
    return app.state.services.engine.pool.checkedout()


@pytest.mark.parametrize("kind", ["order", "lab console"])
def test_open_streams_hold_no_connection(server, kind):
    app, url = server
    with httpx.Client(base_url=url, timeout=30) as client, ExitStack() as streams:
        tokens = issue_tokens(client, ("maker", "designer"))
        register_lab(client, "lab-1", 41.4, 2.17, online=False)
        report_status(app.state.services, "lab-1")
        if kind == "order":
            order = place_order(client, tokens["maker"], design_id(client, tokens["designer"]))
            path, token = f"/api/v1/orders/{order['id']}/stream", tokens["maker"]
        else:
            path, token = "/api/v1/labs/lab-1/console/stream", ADMIN
        for _ in range(4):  # the most one token may hold open (Settings.limits.streams_per_token)
            response = streams.enter_context(client.stream("GET", path, headers=bearer(token)))
            assert response.status_code == 200
            next(response.iter_lines())  # the stream is under way
        held = [_checked_out(app) for _ in range(20) if time.sleep(0.05) is None]
        assert max(held) <= 1, f"connections checked out while 4 streams were open: {held}"
        search = client.get("/api/v1/designs", params={"q": "bracket"}, headers=bearer(tokens["maker"]))
        assert search.status_code == 200
