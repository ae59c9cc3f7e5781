"""Factories for the hub's tests, one of each: people (a token per role), labs (registered,
approved and online), designs (published through the API) and orders (placed through the
API), plus the two ways tests look behind the API (the outbox, a node event applied).

Everything goes through the hub's own API where the API can do it, so a factory breaks when
the API does; the exceptions (a node's status, an event) are what a node sends over MQTT,
applied the way the hub's MQTT handler applies it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from sqlmodel import Session, select

from cofab.devstack.samples import box, stl_bytes
from cofab_wire import EventType, JobEvent, MachineStatus, NodeStatus
from hub.auth.models import ApiToken
from hub.catalog.models import Design
from hub.dispatch.events import handle_event
from hub.dispatch.models import OutboxMessage
from hub.nodes.service import apply_status

ADMIN = "test-admin-token"
ROLES = ("designer", "lab", "maker", "city")
MAKER_AT = (41.4036, 2.1744)
"""Near the Sagrada Família, Barcelona: where the tests' makers are unless they say."""
BUILD = (200.0, 200.0, 200.0)


def services_of(hub: Any) -> Any:
    """The hub's services, from a test client of the app or as they are given."""
    app = getattr(hub, "app", None)
    return app.state.services if app is not None else hub


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# people ---------------------------------------------------------------------------------------


def issue_tokens(api: Any, roles: Sequence[str] = ROLES, admin: str = ADMIN) -> dict[str, str]:
    """A token per role, issued by the admin through the API; "admin" maps to the admin's."""
    issued = {"admin": admin}
    for role in roles:
        response = api.post("/api/v1/tokens", json={"role": role, "name": f"test {role}"}, headers=bearer(admin))
        assert response.status_code == 201, response.text
        issued[role] = response.json()["token"]
    return issued


def token_rows(session: Session) -> dict[str, ApiToken]:
    """The stored token of each role's person, by role (for tests that write rows straight
    to tables and need their owners' ids)."""
    rows: dict[str, ApiToken] = {}
    for row in session.exec(select(ApiToken).order_by(ApiToken.id)):
        rows.setdefault(row.role, row)
    return rows


def design_row(session: Session, design_id: str, title: str, **fields: Any) -> Design:
    """Write a design's row straight to its table, owned by the designer (for tests of pages
    and figures that need many designs or set times the API would not)."""
    owner = token_rows(session)["designer"]
    design = Design(
        id=design_id, title=title, **{"licence": "CC-BY-4.0", "author": "Ada", "owner_token_id": owner.id, **fields}
    )
    session.add(design)
    return design


# labs -----------------------------------------------------------------------------------------


def register_lab(
    api: Any,
    node_id: str,
    lat: float,
    lon: float,
    *,
    build: Sequence[float] = BUILD,
    materials: Sequence[str] = ("PLA",),
    approve: bool = True,
    online: bool = True,
    admin: str = ADMIN,
    **extra: Any,
) -> dict:
    """Register a lab with one FDM printer "p1"; approve it and report it online unless told.
    Returns the registration's answer (the node, its API token, its broker login)."""
    response = api.post(
        "/api/v1/nodes",
        headers=bearer(admin),
        json={
            "id": node_id,
            "name": node_id,
            "lat": lat,
            "lon": lon,
            **extra,
            "machines": [{"machine_id": "p1", "build_volume_mm": list(build), "materials": list(materials)}],
        },
    )
    assert response.status_code == 201, response.text
    if approve:
        approved = api.post(f"/api/v1/nodes/{node_id}/approvals", headers=bearer(admin))
        assert approved.status_code == 200 and approved.json()["membership"] == "active", approved.text
    if online:
        report_status(api, node_id, build=build, materials=materials)
    return response.json()


def report_status(
    hub: Any,
    node_id: str,
    *,
    online: bool = True,
    build: Sequence[float] = BUILD,
    materials: Sequence[str] = ("PLA",),
) -> None:
    """Apply the status message the lab's node would send (`lab_status`). `hub`: a test client
    of the app, or its services."""
    services = services_of(hub)
    status = lab_status(node_id, online=online, build=build, materials=materials)
    with Session(services.engine) as session:
        apply_status(session, node_id, status, services.registry)


def lab_status(
    node_id: str, *, online: bool = True, build: Sequence[float] = BUILD, materials: Sequence[str] = ("PLA",)
) -> NodeStatus:
    """The status message of a lab `register_lab` made: its FDM printer "p1", idle."""
    machine = MachineStatus(
        machine_id="p1", process="FDM", build_volume_mm=tuple(build), materials=list(materials), state="idle"
    )
    return NodeStatus(node_id=node_id, online=online, machines=[machine])


# designs --------------------------------------------------------------------------------------


def cube(size: float = 20.0) -> bytes:
    return stl_bytes(box((size, size, size)))


def publish_design(
    api: Any,
    token: str,
    data: bytes | None = None,
    *,
    filename: str = "part.stl",
    title: str = "A part",
    expect: int | None = 201,
    **params: Any,
) -> httpx.Response:
    """Publish `data` (a 20 mm cube by default) as a design; list values become comma lists.
    The answer's status is checked against `expect` unless it is None."""
    params = {k: (",".join(v) if isinstance(v, list | tuple) else v) for k, v in params.items()}
    response = api.post(
        "/api/v1/designs",
        content=cube() if data is None else data,
        headers={**bearer(token), "Content-Type": "application/octet-stream"},
        params={"filename": filename, "title": title, **params},
    )
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def design_id(api: Any, token: str, size: Sequence[float] = (20, 20, 20), **params: Any) -> str:
    """The id of a new design: a box of `size` mm."""
    return publish_design(api, token, stl_bytes(box(tuple(size))), **params).json()["id"]


def publish_parts(api: Any, token: str, parts: list[dict], *, title: str, **fields: Any) -> dict:
    """Publish a design made of staged uploads (`parts`: upload_id, quantity); returns it."""
    response = api.post("/api/v1/designs", headers=bearer(token), json={"title": title, "parts": parts, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def stage_upload(
    api: Any, token: str, data: bytes, filename: str = "part.stl", expect: int | None = 201
) -> httpx.Response:
    """Stage a file (POST /uploads) for a design to be made of later."""
    response = api.post(
        "/api/v1/uploads",
        content=data,
        params={"filename": filename},
        headers={**bearer(token), "Content-Type": "application/octet-stream"},
    )
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


# orders ---------------------------------------------------------------------------------------


def place_order(
    api: Any,
    token: str,
    design: str,
    *,
    where: tuple[float, float] = MAKER_AT,
    material: str = "PLA",
    **fields: Any,
) -> dict:
    """Place an order for design `design` at `where`; returns its full view (jobs, history),
    which the POST answer's Location names."""
    response = api.post(
        "/api/v1/orders",
        headers=bearer(token),
        json={"design_id": design, "material": material, "lat": where[0], "lon": where[1], **fields},
    )
    assert response.status_code == 201, response.text
    return api.get(response.headers["Location"], headers=bearer(token)).json()


def outbox_messages(hub: Any) -> list[tuple[str, dict]]:
    """What the hub has queued for the broker, oldest first: (topic, decoded payload)."""
    with Session(services_of(hub).engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(m.topic, json.loads(m.payload)) for m in rows]


def send_event(hub: Any, node_id: str, job_id: str, seq: int, type: EventType, **fields: Any) -> bool:
    """Apply a node's job event as the hub's MQTT handler does; False for a duplicate."""
    services = services_of(hub)
    event = JobEvent(job_id=job_id, node_id=node_id, seq=seq, type=type, **fields)
    with Session(services.engine, expire_on_commit=False) as session:
        return handle_event(session, services.dispatch, node_id, event)
