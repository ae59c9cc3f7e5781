"""Issue and check API tokens. Plain-text tokens are shown once and never stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from hub.auth.models import ApiToken
from hub.auth.roles import Role
from hub.timeutil import now


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, name and role, and the node it speaks for (labs)."""

    token_id: int
    name: str
    role: Role
    node_id: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, role: Role, name: str, node_id: str | None = None, token: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token; `token` lets an operator bootstrap a known admin value."""
    plain = token or f"cofab_{secrets.token_urlsafe(32)}"
    record = ApiToken(name=name, role=role.value, token_hash=hash_token(plain), node_id=node_id, created_at=now())
    session.add(record)
    session.flush()
    return record, plain


def ensure_token(session: Session, *, role: Role, name: str, token: str) -> ApiToken:
    """Idempotent bootstrap: the admin token from settings exists after every start."""
    existing = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if existing is not None:
        return existing
    record, _ = create_token(session, role=role, name=name, token=token)
    return record


def authenticate(session: Session, token: str) -> Principal | None:
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if record is None or record.revoked:
        return None
    assert record.id is not None  # a stored row
    return Principal(token_id=record.id, name=record.name, role=Role(record.role), node_id=record.node_id)
