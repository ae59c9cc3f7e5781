"""The guard's limits, read from the environment (prefix `COFAB_`); docs/limits.md says why
each default is what it is."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GuardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COFAB_", env_file=None, extra="ignore")

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
