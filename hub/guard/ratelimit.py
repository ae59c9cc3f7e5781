"""Rate limits on authentication: failed attempts per client address, requests per token.

Why in `hub.deps.current_principal` (the one place an API token is checked) and not in a
middleware: only there is it known whether a token was wrong, and whose token a request
carries. Why an address is shut out entirely once it has failed too often, even with a right
token: otherwise the 429 would only come for wrong guesses, and a right one would still
stand out. Neither refusal says more than the 401 does about what was wrong.

The client address is the ASGI scope's client: uvicorn takes it from `X-Forwarded-For` only
when the connection comes from a trusted proxy (`FORWARDED_ALLOW_IPS`, default 127.0.0.1),
so a hub behind its own reverse proxy counts per real client, and nobody else can pick the
address they are counted under.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.strategies import MovingWindowRateLimiter

from hub.auth.service import Principal
from hub.errors import DomainError
from hub.guard.settings import GuardSettings
from hub.guard.storage import Counters


class TooManyRequests(DomainError):
    """Over a rate or concurrency limit; `Retry-After` (and the message) say when to retry."""

    status_code = 429

    def __init__(self, detail: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(f"{detail}; retry in {self.retry_after_s} s", headers={"Retry-After": str(self.retry_after_s)})


class RateLimits:
    def __init__(self, counters: Counters, settings: GuardSettings) -> None:
        self._counters = counters
        self._limiter = MovingWindowRateLimiter(counters.storage)
        self._failures = RateLimitItemPerMinute(settings.auth_failures_per_minute, namespace="auth-failures")
        self._requests = RateLimitItemPerMinute(settings.requests_per_minute_per_token, namespace="token-requests")

    def authenticate(self, address: str, attempt: Callable[[], Principal | None]) -> Principal | None:
        """`attempt()` unless `address` has failed too often; count its failure, or the
        principal's request."""
        if not self._counters.call(True, lambda: self._limiter.test(self._failures, address)):
            raise TooManyRequests(
                "too many failed authentications from this address", self._retry_after(self._failures, address)
            )
        principal = attempt()
        if principal is None:
            self._counters.call(True, lambda: self._limiter.hit(self._failures, address))
            return None
        token = str(principal.token_id)
        if not self._counters.call(True, lambda: self._limiter.hit(self._requests, token)):
            raise TooManyRequests(
                f"this token made more than {self._requests.amount:,} requests in the last minute",
                self._retry_after(self._requests, token),
            )
        return principal

    def _retry_after(self, item: RateLimitItem, key: str) -> float:
        """Seconds until the oldest counted event leaves the window and one more is allowed."""
        stats = self._counters.call(None, lambda: self._limiter.get_window_stats(item, key))
        return stats.reset_time - time.time() if stats else item.get_expiry()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate_within_limits(request: Request, attempt: Callable[[], Principal | None]) -> Principal | None:
    """The hook `hub.deps.current_principal` calls around its token check (see the module's
    docstring); an app built without the guard (`hub.guard.install`) checks the token alone."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        return attempt()
    return limits.authenticate(client_address(request), attempt)
