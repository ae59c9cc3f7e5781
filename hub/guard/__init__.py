"""The hub's guard: no single client can stall or flood the hub, and each gets a clear 4xx.

`install(app, settings, upload_max_bytes)` is the one hook `hub.app.create_app` calls. What it
sets up, one module per job (docs/limits.md has the numbers and why):
- `bodies`: request body limits per kind of route (JSON, form, upload), enforced by a pure
  ASGI middleware while the body arrives, before authentication: 413 naming the limit;
- `ratelimit`: failed authentications per client address and requests per token, counted
  where the token is checked (`hub.deps.current_principal` calls `authenticate_within_limits`):
  429 with `Retry-After`;
- `streams`: live (Server-Sent-Event) streams one token may hold open at once, a dependency
  of the stream routes (`StreamSlot`): 429 with `Retry-After`;
- `storage`: where the counts live, this process or Redis (shared by replicas), with the
  policy for when Redis is unreachable; `settings`: `GuardSettings`, `Settings.limits` (`COFAB_LIMITS_…`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.guard.settings import GuardSettings


def install(app: FastAPI, settings: GuardSettings, upload_max_bytes: int) -> None:
    """Add the body limits (outermost of the app's middleware, so no other reads a body
    first) and keep the rate limits and stream slots on `app.state` for the hooks."""
    from hub.guard.bodies import BodyLimitMiddleware, BodyLimits
    from hub.guard.ratelimit import RateLimits
    from hub.guard.storage import Counters
    from hub.guard.streams import StreamSlots

    counters = Counters(settings)
    app.state.rate_limits = RateLimits(counters, settings)
    app.state.stream_slots = StreamSlots(counters, settings.streams_per_token)
    limits = BodyLimits(json=settings.json_body_max_bytes, form=settings.form_body_max_bytes, upload=upload_max_bytes)
    app.add_middleware(BodyLimitMiddleware, limits=limits)
