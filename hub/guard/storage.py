"""The one place rate limits and live-stream slots are counted: in this process, or in Redis.

Why `limits`' storage: it is the maintained library behind slowapi, its moving windows are
exact (N events in the last minute, not a window that resets on the minute), and the same
code counts in memory or in Redis, where every replica sees the same counts.

Why counts go unchecked while Redis is unreachable: the limits are a defence, and an outage
of the counter should not become an outage of the hub. It is logged once when it starts and
once when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string

from hub.guard.settings import GuardSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_TIMEOUT_S = 1.0
"""A Redis that does not answer within this is treated as unreachable (the request goes on)."""


class Counters:
    """The storage and the outage policy around every call to it."""

    def __init__(self, settings: GuardSettings) -> None:
        options: dict[str, float | str | bool] = {"key_prefix": settings.rate_limit_prefix, "wrap_exceptions": True}
        if not settings.rate_limit_storage.startswith("memory:"):
            options |= {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}
        storage = storage_from_string(settings.rate_limit_storage, **options)
        assert isinstance(storage, MemoryStorage | RedisStorage)  # GuardSettings allows no other scheme
        self.storage: Storage = storage
        self.prefix = settings.rate_limit_prefix
        self._errors: tuple[type[BaseException], ...] = (StorageError,)
        if isinstance(storage, RedisStorage):
            base = storage.base_exceptions
            self._errors += base if isinstance(base, tuple) else (base,)
        self._down = False
        self._lock = threading.Lock()

    @property
    def redis(self):  # -> redis.Redis | None (the package is imported by limits only when used)
        """The Redis client, for counts `limits` has no operation for (stream slots)."""
        return self.storage.get_connection() if isinstance(self.storage, RedisStorage) else None

    def call(self, unreachable: T, func: Callable[[], T]) -> T:
        """`func()`, or `unreachable` when the storage cannot be reached."""
        try:
            result = func()
        except self._errors as exc:
            self._note(down=True, reason=f"{type(exc).__name__}: {exc}")
            return unreachable
        if self._down:
            self._note(down=False, reason="")
        return result

    def _note(self, *, down: bool, reason: str) -> None:
        with self._lock:
            if self._down == down:
                return
            self._down = down
        if down:
            log.warning("rate limit storage unreachable (%s): limits are not enforced until it is back", reason)
        else:
            log.warning("rate limit storage reachable again: limits are enforced")
