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
from sqlmodel import Session

from hub.auth.roles import Role
from hub.auth.service import Principal, authenticate
from hub.errors import Forbidden, NotFound, Unauthenticated
from hub.orders.models import Order

if TYPE_CHECKING:
    from hub.services import HubServices


def get_services(request: Request) -> HubServices:
    services: HubServices = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
Services = Annotated["HubServices", Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], session: DbSession
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("missing API token (Authorization: Bearer <token>)")
    principal = authenticate(session, credentials.credentials)
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
