"""The hub behind a real uvicorn server with its own HTTP protocol (`hub.http_protocol`): request
bodies reach the app whole and in order however the client splits them, and the connection
stays usable for the next request."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
import trimesh

from cofab.devstack.samples import stl_bytes
from hub.app import create_app
from hub.http_protocol import StreamingHttpToolsProtocol, uvicorn_options
from tests.factories import ADMIN, bearer
from tests.http_support import serving


@pytest.fixture
def served(hub_settings) -> Iterator[str]:
    with serving(create_app(hub_settings)) as url:
        yield url


def test_hub_is_served_with_the_streaming_protocol():
    assert uvicorn_options()["http"] is StreamingHttpToolsProtocol


@pytest.mark.parametrize("piece", [1, 7_919, 65_536, 300_000])
def test_streamed_upload_arrives_whole_and_the_connection_is_reused(served, piece):
    data = stl_bytes(trimesh.creation.icosphere(subdivisions=5))  # ~1 MB: past the 64 KiB flow-control mark
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)] if piece > 1 else [data[:1], data[1:]]
    with httpx.Client(base_url=served, timeout=120) as client:
        designer = client.post("/api/v1/tokens", json={"role": "designer", "name": "d"}, headers=bearer(ADMIN)).json()[
            "token"
        ]
        response = client.post(
            "/api/v1/uploads",
            params={"filename": "ball.stl"},
            content=iter(pieces),
            headers={**bearer(designer), "Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert response.json()["size_bytes"] == len(data)
        assert client.get("/healthz").json()["ok"] is True  # same keep-alive connection


def test_json_bodies_and_empty_bodies_still_parse(served):
    with httpx.Client(base_url=served, timeout=60) as client:
        created = client.post("/api/v1/tokens", json={"role": "maker", "name": "m" * 50}, headers=bearer(ADMIN))
        assert created.status_code == 201 and created.json()["name"] == "m" * 50
        empty = client.post(
            "/api/v1/uploads",
            params={"filename": "e.stl"},
            content=b"",
            headers={**bearer(created.json()["token"]), "Content-Type": "application/octet-stream"},
        )
        assert empty.status_code == 403  # a maker may not stage; the empty body did not hang the request
