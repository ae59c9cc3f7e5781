from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import Session

from hub.auth.deps import current_principal, require
from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.deps import get_services, get_session
from hub.nodes import service
from hub.nodes.schemas import BrokerAccess, NodeCreate, NodePublic, NodeRegistered

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.post("", status_code=201, response_model=NodeRegistered,
             summary="Register a fab node and its machines (admin); returns its credentials once")
def register(
    body: NodeCreate,
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, Depends(require(Role.ADMIN))],
    services=Depends(get_services),
) -> NodeRegistered:
    try:
        node, token, password = service.register_node(session, body, services.broker_accounts)
    except service.NodeAlreadyExists as exc:
        raise HTTPException(409, str(exc)) from None
    s = services.settings
    return NodeRegistered(node=node, api_token=token,
                          mqtt=BrokerAccess(host=s.mqtt_host, port=s.mqtt_port, username=body.id,
                                            password=password, prefix=s.mqtt_prefix))


@router.get("", response_model=list[NodePublic], summary="Registered nodes with their live status")
def list_nodes(session: Annotated[Session, Depends(get_session)],
               _: Annotated[Principal, Depends(current_principal)]) -> list[NodePublic]:
    return service.list_nodes(session)
