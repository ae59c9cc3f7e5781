"""Token administration: admins issue tokens for people; node tokens come with node registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from hub.auth.roles import Role
from hub.auth.service import Principal, create_token, revoke_token
from hub.deps import Caller, DbInt, DbSession, require

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


@router.delete(
    "/{token_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke a token: an admin any token, anyone else their own",
)
def delete_token(token_id: DbInt, session: DbSession, caller: Caller) -> Response:
    revoke_token(session, token_id, caller)
    session.commit()
    return Response(status_code=204)
