"""Catalogue routes: thin translations to HTTP; the logic is in `hub.catalog.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import ValidationError
from sqlmodel import Session

from hub.auth.deps import current_principal, require
from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog import service
from hub.catalog.schemas import DesignMeta, DesignPublic
from hub.deps import get_services, get_session
from hub.files.store import UploadTooLarge

router = APIRouter(prefix="/api/v1/designs", tags=["designs"])


@router.post(
    "",
    status_code=201,
    response_model=DesignPublic,
    summary="Publish a design: the request body is the mesh file (STL, 3MF or OBJ), streamed",
    description=(
        "Send the file as the raw request body (`Content-Type: application/octet-stream`) and the "
        "metadata as query parameters. The file is streamed to disk while hashed, its kind sniffed "
        "from its content (not its name), and analysed with trimesh. Empty, truncated, non-mesh or "
        "oversized files and unsafe filenames are refused with a 4xx and leave nothing stored."
    ),
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}},
)
async def publish(
    request: Request,
    filename: Annotated[str, Query(max_length=255, description="The file's name, without any path.")],
    title: Annotated[str, Query(min_length=1, max_length=200)],
    principal: Annotated[Principal, Depends(require(Role.DESIGNER))],
    session: Annotated[Session, Depends(get_session)],
    description: str = "",
    licence: str = "CC-BY-SA-4.0",
    process: str = "FDM",
    materials: Annotated[str, Query(description="Comma-separated, e.g. `PLA,PETG`.")] = "PLA",
    services=Depends(get_services),
) -> DesignPublic:
    try:
        meta = DesignMeta(title=title, description=description, licence=licence, process=process,
                          materials=[m.strip() for m in materials.split(",") if m.strip()])
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from None
    declared = request.headers.get("content-length")
    limit = services.settings.upload_max_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {int(declared):,} bytes exceeds the limit of {limit:,} bytes")
    try:
        return await service.publish_design(session, services.files, meta=meta, filename=filename,
                                            body=request.stream(), author=principal, max_bytes=limit)
    except UploadTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except service.DesignRejected as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("", response_model=list[DesignPublic], summary="List designs, newest first")
def list_designs(
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, Depends(current_principal)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DesignPublic]:
    return service.list_designs(session, limit=limit, offset=offset)


@router.get("/{design_id}", response_model=DesignPublic, summary="One design with its files and analysis")
def get_design(
    design_id: str,
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, Depends(current_principal)],
) -> DesignPublic:
    design = service.get_design(session, design_id)
    if design is None:
        raise HTTPException(404, f"no design {design_id!r}")
    return design
