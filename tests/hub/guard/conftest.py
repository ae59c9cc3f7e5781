"""Redis for the guard's shared limits: the machine provides it (127.0.0.1:6379, or
`COFAB_TEST_REDIS_URL`); each test counts under a key prefix of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from hub.guard.settings import GuardSettings
from tests.conftest import require_component

REDIS_URL = os.environ.get("COFAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_limits() -> Iterator[GuardSettings]:
    """Limits counted in Redis under this test's own prefix."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require_component("Redis", f"no Redis at {REDIS_URL} ({type(exc).__name__}); set COFAB_TEST_REDIS_URL")
    prefix = f"cofab-test-{uuid.uuid4().hex[:12]}"
    yield GuardSettings(rate_limit_storage=REDIS_URL, rate_limit_prefix=prefix)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
