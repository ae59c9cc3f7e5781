from __future__ import annotations

from sqlmodel import Field, SQLModel


class ApiToken(SQLModel, table=True):
    """A bearer token; only its sha256 is stored, so a database leak leaks no credentials."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(index=True, max_length=20)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    node_id: str | None = Field(default=None, foreign_key="nodes.id", max_length=64)
    created_at: float
    revoked: bool = False
