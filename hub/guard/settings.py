"""The guard's limits: `Settings.limits`, read from the environment with the hub's settings at
start-up (prefix `COFAB_LIMITS_`, e.g. `COFAB_LIMITS_STREAMS_PER_TOKEN`); docs/limits.md says
why each default is what it is."""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import BaseModel, Field, field_validator

STORAGE_SCHEMES = frozenset({"memory", "redis", "rediss", "redis+unix"})


class GuardSettings(BaseModel):
    json_body_max_bytes: int = Field(
        1024**2,
        ge=1024,
        description="Request bodies of the JSON API (everything under /api/ but the raw uploads) larger "
        "than this are refused (413) while they arrive, before authentication.",
    )
    form_body_max_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="The same for the web pages' form posts (sign-in, sign-out).",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate limits and live-stream slots are counted: `memory://` (this process only: "
        "one replica) or `redis://host:port/db` (shared by every replica using it).",
    )
    rate_limit_prefix: str = Field(
        "cofab",
        min_length=1,
        description="Prefix of the keys in a shared storage, so several hubs can use one Redis.",
    )
    auth_failures_per_minute: int = Field(
        20,
        ge=1,
        description="Failed authentications (a wrong or revoked API token) one client address may make in "
        "a minute; past it every authentication from that address is refused (429) until the minute passes.",
    )
    requests_per_minute_per_token: int = Field(
        1200, ge=1, description="API requests one token may make in a minute (429 past it)."
    )
    streams_per_token: int = Field(
        4, ge=1, description="Live streams (Server-Sent Events) one token may hold open at once (429 past it)."
    )

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in STORAGE_SCHEMES:
            known = ", ".join(f"{s}://" for s in sorted(STORAGE_SCHEMES))
            raise ValueError(f"COFAB_LIMITS_RATE_LIMIT_STORAGE must start with one of {known}; got {value!r}")
        return value
