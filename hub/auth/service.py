"""Issue and check API tokens. Plain-text tokens are shown once and never stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from hub.auth.models import ApiToken
from hub.auth.roles import Role
from hub.errors import Forbidden, NotFound
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


def revoke_node_tokens(session: Session, node_id: str) -> int:
    """Revoke every token that speaks for `node_id` (not committed); how many were live."""
    records = session.exec(select(ApiToken).where(ApiToken.node_id == node_id, col(ApiToken.revoked).is_(False)))
    count = 0
    for record in records:
        record.revoked = True
        session.add(record)
        count += 1
    return count


def revoke_token(session: Session, token_id: int, by: Principal) -> ApiToken:
    """Revoke one token (not committed): an admin may revoke any, anyone else only their own.
    Someone else's token answers 404 like a missing one, so ids cannot be probed."""
    record = session.get(ApiToken, token_id)
    if record is None or (by.role is not Role.ADMIN and record.id != by.token_id):
        raise NotFound(f"no token {token_id}")
    if record.role == Role.ADMIN and record.id == by.token_id and _last_admin(session, record):
        raise Forbidden("this is the last live admin token; issue another admin token before revoking it")
    record.revoked = True
    session.add(record)
    return record


def _last_admin(session: Session, record: ApiToken) -> bool:
    others = select(ApiToken).where(
        ApiToken.role == Role.ADMIN.value, col(ApiToken.revoked).is_(False), ApiToken.id != record.id
    )
    return session.exec(others).first() is None
