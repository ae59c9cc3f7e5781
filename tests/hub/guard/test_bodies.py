"""Request body limits per kind of route, enforced while the body arrives and before
authentication (`hub.guard.bodies`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.guard.bodies import BodyLimits
from tests.factories import bearer
from tests.hub.api.test_serving import served  # noqa: F401  (the hub behind a real uvicorn server)

MiB = 1024**2


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from the current RSS


def _peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _chunks(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        yield b"x" * size
        sent += size


def test_a_large_chunked_body_is_refused_as_it_arrives_before_authentication(served):  # noqa: F811
    """Today's hub read the whole body before the 401 (324 MB -> 1.4 GB RSS for 400 MB)."""
    body = 50 * MiB
    with httpx.Client(base_url=served, timeout=120) as client:
        assert client.get("/healthz").status_code == 200  # the server's own start-up allocations are done
        _peak_rss_reset()
        before = _peak_rss()
        response = client.post(
            "/api/v1/quotes", content=_chunks(body), headers={"Content-Type": "application/json"}
        )  # a generator: chunked, no Content-Length
        grown = _peak_rss() - before
    print(f"peak RSS grew by {grown / MiB:.1f} MiB for a {body // MiB} MiB body")
    assert response.status_code == 413, response.text
    assert "1,048,576 bytes" in response.json()["detail"]
    assert grown < body // 10, f"the server's peak RSS grew by {grown / MiB:.1f} MiB for a {body // MiB} MiB body"


@pytest.fixture
def app_client(hub_settings) -> Iterator[TestClient]:
    hub_settings.upload_max_bytes = 3 * MiB
    with TestClient(create_app(hub_settings)) as client:
        yield client


def test_a_declared_length_past_the_json_limit_is_refused_before_authentication(app_client):
    response = app_client.post(
        "/api/v1/quotes", content=b"{" + b" " * (2 * MiB), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "a body of 2,097,153 bytes is past the limit of 1,048,576 bytes for a JSON API request"
    }


def test_json_bodies_under_the_limit_reach_the_routes(app_client):
    response = app_client.post("/api/v1/quotes", json={"design_id": "x" * 1000}, headers=bearer("wrong"))
    assert response.status_code == 401


def test_uploads_have_the_upload_cap_and_it_holds_before_authentication(app_client, tokens):
    big = b"solid x\n" + b" " * (2 * MiB)  # past the JSON limit, under the upload cap
    staged = app_client.post(
        "/api/v1/uploads",
        params={"filename": "x.stl"},
        content=big,
        headers={**bearer(tokens["designer"]), "Content-Type": "application/octet-stream"},
    )
    assert staged.status_code == 422, staged.text  # reached the analysis: not refused for its size
    too_big = app_client.post(
        "/api/v1/uploads",
        params={"filename": "x.stl"},
        content=b" " * (4 * MiB),
        headers={"Content-Type": "application/octet-stream"},  # no token at all
    )
    assert too_big.status_code == 413
    assert "3,145,728 bytes for an upload" in too_big.json()["detail"]


def test_publishing_is_an_upload_unless_its_body_is_json(app_client, tokens):
    raw = app_client.post(
        "/api/v1/designs",
        params={"filename": "x.stl", "title": "t"},
        content=b" " * (2 * MiB),
        headers={**bearer(tokens["designer"]), "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 422, raw.text  # the file was received and analysed
    as_json = app_client.post(
        "/api/v1/designs",
        content=b" " * (2 * MiB),
        headers={**bearer(tokens["designer"]), "Content-Type": "application/json; charset=utf-8"},
    )
    assert as_json.status_code == 413
    assert "for a JSON API request" in as_json.json()["detail"]


def test_web_form_posts_are_small(app_client):
    response = app_client.post("/login", data={"token": "t", "next": "/" + "a" * (100 * 1024)})
    assert response.status_code == 413
    assert "65,536 bytes for a form post" in response.json()["detail"]


def test_streamed_bodies_are_counted_without_a_declared_length(app_client):
    """The TestClient hands a generator's pieces to the app one by one, without Content-Length."""
    response = app_client.post("/api/v1/quotes", content=_chunks(2 * MiB), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "the body is past the limit of 1,048,576 bytes for a JSON API request"


@pytest.mark.parametrize(
    ("method", "path", "media", "kind"),
    [
        ("POST", "/api/v1/uploads", "application/octet-stream", "upload"),
        ("POST", "/api/v1/uploads", "", "upload"),
        ("POST", "/api/v1/designs", "application/octet-stream", "upload"),
        ("POST", "/api/v1/designs", "APPLICATION/JSON; charset=utf-8", "json"),
        ("POST", "/api/v1/designs/import/okh", "application/toml", "json"),
        ("PATCH", "/api/v1/designs/d1", "application/json", "json"),
        ("POST", "/api/v1/quotes", "application/json", "json"),
        ("PUT", "/api/v1/uploads", "application/octet-stream", "json"),
        ("POST", "/login", "application/x-www-form-urlencoded", "form"),
        ("POST", "/logout", "multipart/form-data; boundary=x", "form"),
    ],
)
def test_kinds_of_route(method, path, media, kind):
    limits = BodyLimits(json=1, form=2, upload=3)
    headers = [(b"content-type", media.encode())] if media else []
    limit, _ = limits.for_request({"type": "http", "method": method, "path": path, "headers": headers})
    assert limit == {"json": 1, "form": 2, "upload": 3}[kind]
