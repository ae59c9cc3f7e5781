"""Every request dependency of the hub, declared once.

Routes name what they need by type: `DbSession`, `Services`, `Caller` (any signed-in
principal) or `require(Role.MAKER, …)` for a role. Services are built once in
`hub.app.create_app` and kept on `app.state`, so nothing here is an import-time singleton.
Loaders that answer 404 themselves (the current order, the current lab) belong here too,
so no route checks for `None` by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from sqlmodel import Session

from hub.auth.roles import Role
from hub.auth.service import Principal, authenticate
from hub.errors import Forbidden, NotFound, Unauthenticated
from hub.guard.ratelimit import authenticate_within_limits
from hub.nodes.models import Node
from hub.nodes.service import find_node
from hub.orders.models import Order

if TYPE_CHECKING:
    from hub.runtime import HubServices


def get_services(request: Request) -> HubServices:
    services: HubServices = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
"""The route's session, open until the answer is sent (a response model may still read rows)."""
BriefSession = Annotated[Session, Depends(get_session, scope="function")]
"""A session closed as soon as the route function returns, before the answer is sent. For
what runs before every route (who is calling) and what a streaming route checks first (does
the order exist): a live stream answers for up to 30 minutes, and a session held that long
holds a pooled connection, so a few open streams would starve every other request."""

INT_COLUMN_MAX = 2**31 - 1
"""The largest integer every database of the hub can compare with its integer columns
(PostgreSQL INTEGER; SQLite holds 64 bits): past it the driver raises, where a missing row
would answer 404."""

DbInt = Annotated[int, Field(ge=-INT_COLUMN_MAX - 1, le=INT_COLUMN_MAX)]
"""An integer from the path or the query that reaches a query: ids, version numbers, offsets.
Out of range is a 422 that names the bound, not a 500. A route adds its own bounds on top:
`offset: Annotated[DbInt, Query(ge=0)] = 0`, `number: DbInt`."""
Services = Annotated["HubServices", Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: BriefSession,
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("missing API token (Authorization: Bearer <token>)")
    principal = authenticate_within_limits(request, lambda: authenticate(session, credentials.credentials))
    if principal is None:
        raise Unauthenticated("invalid or revoked API token")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """Accept callers with one of `roles`; admins are always accepted."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def check(principal: Caller) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(f"role '{principal.role.value}' may not do this; needs one of: {names}")
        return principal

    return check


def current_lab(node_id: str, caller: Annotated[Principal, Depends(require(Role.LAB))], session: BriefSession) -> Node:
    """The lab named by the path's `node_id`: a lab token may name only its own node, an admin
    any. Answers 404 itself, also for another lab's id, so a token learns nothing about labs
    other than its own."""
    if caller.role is not Role.ADMIN and caller.node_id != node_id:
        raise NotFound(f"no lab {node_id!r} for this token")
    return find_node(session, node_id)


CurrentLab = Annotated[Node, Depends(current_lab)]


def current_order(
    order_id: str, session: DbSession, caller: Annotated[Principal, Depends(require(Role.MAKER, Role.CITY))]
) -> Order:
    """The order named in the path, if the caller may see it: a maker their own orders, the
    city and admins any. Someone else's order answers 404 like a missing one, so order ids
    cannot be probed."""
    order = session.get(Order, order_id)
    if order is None or (caller.role is Role.MAKER and order.maker_token_id != caller.token_id):
        raise NotFound(f"no order {order_id!r}")
    return order


CurrentOrder = Annotated[Order, Depends(current_order)]
