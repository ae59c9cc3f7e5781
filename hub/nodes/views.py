"""Lab routes: registration (joins as pending), approvals, OKW import/export, live status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from sqlmodel import Session

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.deps import Caller, DbSession, Services, require
from hub.nodes import okw, service
from hub.nodes.schemas import BrokerAccess, NodeCreate, NodePublic, NodeRegistered

router = APIRouter(prefix="/api/v1/nodes", tags=["labs"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def _registered(services: Services, session: Session, body: NodeCreate) -> NodeRegistered:
    s = services.settings
    node, token, password = service.register_node(
        session, body, services.broker_accounts, services.registry, hub_user=s.mqtt_username
    )
    return NodeRegistered(
        node=node,
        api_token=token,
        mqtt=BrokerAccess(
            host=s.mqtt_host, port=s.mqtt_port, username=body.id, password=password, prefix=s.mqtt_prefix
        ),
    )


@router.post(
    "",
    status_code=201,
    response_model=NodeRegistered,
    summary="Register a lab and its machines (admin); it joins as pending; credentials shown once",
)
def register(
    body: NodeCreate,
    session: DbSession,
    _: Admin,
    services: Services,
) -> NodeRegistered:
    return _registered(services, session, body)


@router.post(
    "/import/okw",
    status_code=201,
    response_model=NodeRegistered,
    summary="Register a lab from an Open Know-Where facility record (admin)",
)
def import_okw(
    record: Annotated[dict[str, Any], Body()],
    session: DbSession,
    _: Admin,
    services: Services,
) -> NodeRegistered:
    return _registered(services, session, okw.from_okw(record))


@router.get("/{node_id}/okw", summary="The lab as an Open Know-Where facility record")
def export_okw(node_id: str, session: DbSession, _: Caller) -> dict[str, Any]:
    return okw.to_okw(service.get_node(session, node_id))


@router.post(
    "/{node_id}/approvals",
    response_model=NodePublic,
    summary="Approve a pending lab: an admin activates it; otherwise enough active member labs must",
)
def approve(
    node_id: str,
    session: DbSession,
    approver: Annotated[Principal, Depends(require(Role.LAB))],
    services: Services,
) -> NodePublic:
    return service.approve(
        session, node_id, approver, required=services.settings.membership_approvals, registry=services.registry
    )


@router.post(
    "/{node_id}/deactivate",
    response_model=NodePublic,
    summary="Make a lab inactive (admin): no more jobs; its tokens and broker login are revoked",
)
def deactivate(
    node_id: str,
    session: DbSession,
    _: Admin,
    services: Services,
) -> NodePublic:
    return service.deactivate(session, node_id, services.broker_accounts, services.registry)


@router.get("", response_model=list[NodePublic], summary="Labs with membership and live status")
def list_nodes(session: DbSession, _: Caller) -> list[NodePublic]:
    return service.list_nodes(session)


@router.get("/{node_id}", response_model=NodePublic, summary="One lab")
def get_node(node_id: str, session: DbSession, _: Caller) -> NodePublic:
    return service.get_node(session, node_id)
