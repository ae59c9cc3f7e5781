"""Rate limits: failed authentications per client address and requests per token, in this
process or shared through Redis by several hub instances (`hub.guard.ratelimit`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.guard.settings import GuardSettings
from tests.factories import ADMIN, bearer


def _limit(hub_settings, **limits: object) -> None:
    hub_settings.limits = GuardSettings.model_validate({**hub_settings.limits.model_dump(), **limits})


def _client(hub_settings, address: str = "203.0.113.7") -> TestClient:
    return TestClient(create_app(hub_settings), client=(address, 40000))


@pytest.fixture
def hub(hub_settings, monkeypatch) -> Iterator[TestClient]:
    _limit(hub_settings, auth_failures_per_minute=5)
    with _client(hub_settings) as client:
        yield client


def _wrong(client: TestClient, n: int) -> list[int]:
    return [client.get("/api/v1/licences", headers=bearer(f"guess-{i}")).status_code for i in range(n)]


def test_an_address_that_fails_too_often_is_refused_with_retry_after(hub):
    assert _wrong(hub, 5) == [401] * 5
    refused = hub.get("/api/v1/licences", headers=bearer("guess-6"))
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert refused.json() == {"detail": f"too many failed authentications from this address; retry in {retry} s"}
    # the right token is refused too: a 200 among the 429s would tell a guess was right
    assert hub.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 429


def test_failures_are_counted_per_address(hub):
    assert _wrong(hub, 6)[-1] == 429
    elsewhere = TestClient(hub.app, client=("198.51.100.9", 40000))  # the same running app
    assert elsewhere.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 200
    assert _wrong(elsewhere, 1) == [401]


def test_a_missing_token_is_not_a_failed_guess(hub):
    assert [hub.get("/api/v1/licences").status_code for _ in range(10)] == [401] * 10
    assert hub.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 200


def test_requests_per_token(hub_settings, monkeypatch):
    _limit(hub_settings, requests_per_minute_per_token=5)
    with _client(hub_settings) as client:
        maker = client.post("/api/v1/tokens", json={"role": "maker", "name": "m"}, headers=bearer(ADMIN)).json()
        codes = [client.get("/api/v1/licences", headers=bearer(maker["token"])).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        refused = client.get("/api/v1/licences", headers=bearer(maker["token"]))
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "more than 5 requests in the last minute; retry in" in refused.json()["detail"]
        assert client.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 200  # another token


def test_two_instances_share_the_limits_through_redis(hub_settings, monkeypatch, redis_limits):
    """Two hub replicas (apps on one database) behind one address: the counts are shared."""
    hub_settings.limits = redis_limits
    _limit(hub_settings, auth_failures_per_minute=6)
    _limit(hub_settings, requests_per_minute_per_token=8)
    with _client(hub_settings) as first, _client(hub_settings) as second:
        assert _wrong(first, 3) + _wrong(second, 3) == [401] * 6
        assert first.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 429
        assert second.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 429
    with _client(hub_settings, "192.0.2.1") as first, _client(hub_settings, "192.0.2.1") as second:
        codes = [c.get("/api/v1/licences", headers=bearer(ADMIN)).status_code for c in (first, second) * 5]
        assert codes == [200] * 8 + [429] * 2


def test_an_unreachable_redis_leaves_the_hub_serving(hub_settings, monkeypatch, caplog):
    _limit(hub_settings, rate_limit_storage="redis://127.0.0.1:9/0")  # discard port: nothing listens
    with caplog.at_level(logging.WARNING, logger="hub.guard.storage"), _client(hub_settings) as client:
        assert client.get("/api/v1/licences", headers=bearer(ADMIN)).status_code == 200
        assert client.get("/api/v1/licences", headers=bearer("wrong")).status_code == 401
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.guard.storage"]
    assert len(warnings) == 1 and "limits are not enforced" in warnings[0]


def test_settings_name_their_environment_and_refuse_unknown_storage(monkeypatch):
    monkeypatch.setenv("COFAB_LIMITS_STREAMS_PER_TOKEN", "2")
    monkeypatch.setenv("COFAB_LIMITS_JSON_BODY_MAX_BYTES", "4096")
    settings = Settings().limits
    assert (settings.streams_per_token, settings.json_body_max_bytes) == (2, 4096)
    assert settings.rate_limit_storage == "memory://"
    with pytest.raises(ValueError, match="COFAB_LIMITS_RATE_LIMIT_STORAGE must start with one of memory://"):
        GuardSettings(rate_limit_storage="memcached://127.0.0.1:11211")
