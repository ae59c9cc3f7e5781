"""Token administration: admins issue tokens for people; node tokens come with node registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hub.auth.roles import Role
from hub.auth.service import Principal, create_token
from hub.deps import DbSession, require

router = APIRouter(prefix="/api/v1/tokens", tags=["auth"])


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="Who holds it, e.g. a person's name.")
    role: Role


class TokenIssued(BaseModel):
    id: int
    name: str
    role: Role
    token: str = Field(description="Shown once; only its hash is stored.")


@router.post("", status_code=201, response_model=TokenIssued, summary="Issue an API token (admin)")
def issue_token(
    body: TokenCreate,
    session: DbSession,
    _: Annotated[Principal, Depends(require(Role.ADMIN))],
) -> TokenIssued:
    record, plain = create_token(session, role=body.role, name=body.name)
    session.commit()
    return TokenIssued(id=record.id, name=record.name, role=body.role, token=plain)
