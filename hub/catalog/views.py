"""Catalog routes: thin translations to HTTP; the logic is in `hub.catalog.service`, `flows`,
`uploads`, `search`, `lineage`, `okh` and `ingest`, whose refusals are `hub.errors` types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog import flows, okh, search, service, uploads
from hub.catalog.ingest import Ingested, ingest
from hub.catalog.licences import known_licence_ids, licence_terms
from hub.catalog.sandbox import AnalysisLimits
from hub.catalog.schemas import (
    DesignCreate,
    DesignMeta,
    DesignPage,
    DesignPublic,
    DesignSummary,
    DesignUpdate,
    LicencePublic,
    UploadPublic,
    VersionCreate,
    VersionPublic,
)
from hub.db import present
from hub.deps import Caller, DbInt, DbSession, Services, require
from hub.errors import NotFound, Rejected, TooLarge
from hub.files import holds
from hub.files.store import FileStore

router = APIRouter(prefix="/api/v1/designs", tags=["designs"])
uploads_router = APIRouter(prefix="/api/v1/uploads", tags=["designs"])
licences_router = APIRouter(prefix="/api/v1/licences", tags=["designs"])

Designer = Annotated[Principal, Depends(require(Role.DESIGNER))]

_RAW_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_JSON_LIMIT = 1024 * 1024

T = TypeVar("T")


def _inline_schema(model) -> dict:
    """A model's JSON schema for `openapi_extra`, its nested models referring to the
    components FastAPI already publishes (PartRef comes with VersionCreate)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _unprocessable(exc: ValidationError) -> Rejected:
    return Rejected(exc.errors(include_url=False, include_context=False, include_input=False))


async def _ingest(request: Request, filename: str, services: Services, session: Session) -> Ingested:
    """Stream the request body through `ingest`, which refuses with 413/422 itself. The objects
    it stores or finds are held until `session`'s transaction ends (`hub.files.holds`)."""
    declared = request.headers.get("content-length")
    limit = services.settings.upload_max_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"upload of {int(declared):,} bytes exceeds the limit of {limit:,} bytes")
    analysis = AnalysisLimits(
        memory_mb=services.settings.analysis_max_memory_mb, timeout_s=services.settings.analysis_timeout_s
    )
    return await ingest(
        services.files,
        request.stream(),
        filename=filename,
        max_bytes=limit,
        limits=services.settings.catalog,
        analysis=analysis,
        derived_for=lambda sha: service.derived_kinds(session, sha),
        hold=lambda hashes: holds.hold_shared(session, hashes),
    )


@asynccontextmanager
async def _recorded_or_removed(session: Session, services: Services, item: Ingested) -> AsyncIterator[None]:
    """The rows for an ingested file are committed, or its new objects leave the store: a
    failed transaction (or any error before the commit) must not orphan the bytes. The
    clean-up runs in a worker thread: it may wait for another upload of the same bytes, which
    needs this event loop to finish."""
    try:
        yield
    except BaseException:
        session.rollback()
        await run_in_threadpool(uploads.forget_new_objects, session, services.files, item)
        raise


async def _read_limited(stream: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    data = bytearray()
    async for chunk in stream:
        data.extend(chunk)
        if len(data) > limit:
            raise TooLarge(f"{what} is larger than {limit:,} bytes")
    return bytes(data)


async def _off_loop(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call in a worker thread, for calls that take object holds
    (`hub.files.holds`): a hold may wait for a clean-up, which on PostgreSQL may itself wait for
    another request that needs this event loop to finish."""
    return await run_in_threadpool(func, *args, **kwargs)


@uploads_router.post(
    "",
    status_code=201,
    response_model=UploadPublic,
    summary="Stage one design file (raw body, streamed) for a version or an OKH import",
    description=(
        "The body is the file itself (`application/octet-stream`), streamed to disk while hashed; "
        "`filename` names it. Its kind is sniffed from the content: meshes (STL, 3MF, OBJ) are analysed and "
        "get a repaired copy where repair helps, a PNG thumbnail and a GLB for viewers; outlines (SVG, DXF) "
        "for laser and CNC get their outline analysis. Refused files (corrupt, hostile, past the size or "
        "analysis limits) get a 4xx with the reason and leave nothing stored. Name the returned `id` in "
        "`parts` of `POST /api/v1/designs` or `/versions` within a day."
    ),
    openapi_extra=_RAW_BODY,
)
async def stage_upload(
    request: Request,
    filename: Annotated[str, Query(max_length=255, description="The file's name, without any path.")],
    principal: Designer,
    session: DbSession,
    services: Services,
) -> UploadPublic:
    item = await _ingest(request, filename, services, session)
    async with _recorded_or_removed(session, services, item):
        return uploads.record_upload(session, principal, item, ttl_s=services.settings.catalog.upload_ttl_s)


@router.post(
    "",
    status_code=201,
    response_model=DesignPublic,
    summary="Publish a design: one streamed file (raw body), or several staged uploads (JSON)",
    description=(
        "Two request bodies, chosen by `Content-Type`:\n\n"
        "* `application/octet-stream`: the body is one file (mesh or outline), streamed; metadata in the "
        "query (`filename`, `title`, `description`, `licence`, `process`, and comma-separated `materials`, "
        "`tags`, `co_authors`, `remix_of`). It becomes version 1 with one part, quantity 1.\n"
        "* `application/json`: a `DesignCreate` naming staged uploads as parts with quantities.\n\n"
        "Licences are SPDX ids (unknown ones: 422 with the known list). `remix_of` is checked: a remix of a "
        "no-derivatives design is refused, a share-alike one must keep a compatible licence, a non-commercial "
        "one must stay non-commercial."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": _inline_schema(DesignCreate)},
            },
        }
    },
)
async def publish(
    request: Request,
    principal: Designer,
    session: DbSession,
    services: Services,
    filename: Annotated[str | None, Query(max_length=255, description="Raw body only: the file's name.")] = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
    description: str = "",
    licence: str = "CC-BY-SA-4.0",
    process: str = "FDM",
    materials: Annotated[str, Query(description="Comma-separated, e.g. `PLA,PETG`.")] = "PLA",
    tags: Annotated[str, Query(description="Comma-separated.")] = "",
    co_authors: Annotated[str, Query(description="Comma-separated names.")] = "",
    remix_of: Annotated[str, Query(description="Comma-separated design ids.")] = "",
) -> DesignPublic:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        raw = await _read_limited(request.stream(), _JSON_LIMIT, "the JSON body")
        try:
            body = DesignCreate.model_validate_json(raw)
        except ValidationError as exc:
            raise _unprocessable(exc) from None
        parts = await _off_loop(service.parts_from_uploads, session, principal, body.parts)
        design = flows.create_design(session, meta=body, parts=parts, owner=principal, label=body.label, note=body.note)
        return present(service.design_public(session, design.id))
    if not filename or not title:
        raise Rejected(
            "a raw-body upload needs the `filename` and `title` query parameters "
            "(or send application/json naming staged uploads)",
        )
    try:
        meta = DesignMeta(
            title=title,
            description=description,
            licence=licence,
            process=process,
            materials=_split(materials),
            tags=_split(tags),
            co_authors=_split(co_authors),
            remix_of=_split(remix_of),
        )
    except ValidationError as exc:
        raise _unprocessable(exc) from None
    # lineage is checked before the file is received, so a refused remix stores nothing
    service.check_lineage(session, meta)
    item = await _ingest(request, filename, services, session)
    async with _recorded_or_removed(session, services, item):
        # The design first, then the derived links in the same transaction: their savepoints
        # need an open transaction (on SQLite a savepoint opened first would commit on release).
        design = flows.create_design(
            session,
            meta=meta,
            parts=[service.PartSpec.from_stored(item)],
            owner=principal,
            commit=False,
        )
        uploads.record_derived(session, item)
        session.commit()
    return present(service.design_public(session, design.id))


@router.get(
    "",
    response_model=DesignPage,
    summary="Search designs: full text and filters, paginated, with the total count (capped)",
    description=(
        "`q` matches title, description and tags (every word, as a prefix; best match first). Without `q`, "
        "newest first. Filters: `process`, `licence` (SPDX id), `commercial_use` (the licence allows paid "
        "jobs), `material`, `tag`, and `fits=XxYxZ` in mm: every part of the latest version fits that box in "
        "some axis-aligned orientation. No parameters: every design, newest first.\n\n"
        f"`total` is exact up to {search.COUNT_CAP:,} matches; past that the count stops, `total` is "
        f'{search.COUNT_CAP:,} and `total_exact` is false (show "{search.COUNT_CAP:,}+"). With `q`, the best '
        f"matches are then ranked among the {search.COUNT_CAP + 1:,} most recently published or edited "
        f"matches. With `q` or a filter, the first {search.COUNT_CAP + 1:,} matches can be paged to and pages "
        "past them are empty; with no parameter at all every design can. Ties in rank go to the most "
        "recently published or edited design."
    ),
)
def list_designs(
    session: DbSession,
    _: Caller,
    q: Annotated[str | None, Query(max_length=200)] = None,
    process: Annotated[str | None, Query(pattern="^(FDM|SLA|laser|CNC)$")] = None,
    licence: Annotated[str | None, Query(max_length=64)] = None,
    commercial_use: bool | None = None,
    material: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    fits: Annotated[str | None, Query(max_length=64, description="e.g. `200x200x180` (mm)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[DbInt, Query(ge=0)] = 0,
) -> DesignPage:
    box = search.parse_fits(fits) if fits else None
    if licence:
        licence_terms(licence)
    query = search.SearchQuery(
        q=q,
        process=process,
        licence=licence,
        commercial_use=commercial_use,
        material=material,
        tag=tag,
        fits=box,
        limit=limit,
        offset=offset,
    )
    return search.search_designs(session, query)


@router.post(
    "/import/okh",
    status_code=201,
    response_model=DesignPublic,
    summary="Import a design from an Open Know-How manifest (OKH v1 YAML or OKH-LOSH TOML)",
    description=(
        "Two steps, so every file streams through the same checks as any upload: first stage each file the "
        "manifest names with `POST /api/v1/uploads?filename=<its base name>`; then send the manifest as the "
        "body (`application/toml` or `application/yaml`; sniffed if neither) with `upload=<id>` once per "
        "file. Every printable file the manifest lists (STL, 3MF, OBJ, SVG, DXF in a part's `export`/`source` "
        "or `design-files`) must be among the uploads, matched by base name; manifest paths that could escape "
        "a folder are refused. Mapped: name/title, function/description, license (hardware first), licensor, "
        "version, keywords, parts (with `quantity` if present), repo/project-link, documentation-language. "
        "`licence` overrides a manifest licence that is not an SPDX id (e.g. `CERN OHL`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/toml": {"schema": {"type": "string"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_okh(
    request: Request,
    principal: Designer,
    session: DbSession,
    services: Services,
    upload: Annotated[list[str], Query(description="Staged upload ids, one per file.")] = [],  # noqa: B006
    licence: Annotated[str | None, Query(max_length=64, description="SPDX id overriding the manifest's.")] = None,
    process: Annotated[str | None, Query(pattern="^(FDM|SLA|laser|CNC)$")] = None,
) -> DesignPublic:
    raw = await _read_limited(request.stream(), services.settings.catalog.max_manifest_bytes, "the manifest")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    design = await _off_loop(
        okh.import_manifest,
        session,
        principal,
        raw,
        media_type=media,
        upload_ids=upload,
        licence=licence,
        process=process,
    )
    return present(service.design_public(session, design.id))


@router.get(
    "/{design_id}",
    response_model=DesignPublic,
    summary="One design: metadata, licence terms, versions, latest parts with analysis, attribution",
)
def get_design(design_id: str, session: DbSession, _: Caller) -> DesignPublic:
    design = service.design_public(session, design_id)
    if design is None:
        raise NotFound(f"no design {design_id!r}")
    return design


@router.patch(
    "/{design_id}",
    response_model=DesignPublic,
    summary="Change a design's metadata; add co-authors or remix parents (owner or admin)",
    description="Files change only by publishing a version; the licence never changes; credits are "
    "only ever added. Added `remix_of` parents are checked like at creation, and a parent "
    "that descends from this design is refused (no cycles).",
)
def update_design(design_id: str, body: DesignUpdate, session: DbSession, principal: Designer) -> DesignPublic:
    flows.update_design(session, design_id, body, principal)
    return present(service.design_public(session, design_id))


@router.post(
    "/{design_id}/versions",
    status_code=201,
    response_model=VersionPublic,
    summary="Publish a new immutable version from staged uploads (owner or admin)",
    description="The body lists every part of the new version (`upload_id` from `POST /api/v1/uploads`, "
    "`quantity`, optional `name`); nothing is inherited from the previous version, and "
    "published versions never change.",
)
def publish_version(design_id: str, body: VersionCreate, session: DbSession, principal: Designer) -> VersionPublic:
    parts = service.parts_from_uploads(session, principal, body.parts)
    version = flows.publish_version(session, design_id, parts, principal, label=body.label, note=body.note)
    return present(service.version_public(session, design_id, version.number))


@router.get(
    "/{design_id}/versions/{number}",
    response_model=VersionPublic,
    summary="One version of a design with its parts and their analysis",
)
def get_version(design_id: str, number: DbInt, session: DbSession, _: Caller) -> VersionPublic:
    version = service.version_public(session, design_id, number)
    if version is None:
        raise NotFound(f"no version {number} of design {design_id!r}")
    return version


def _derived_response(
    session: Session, store: FileStore, design_id: str, number: int, file_id: int, kind: str, media_type: str, name: str
) -> FileResponse:
    derived = service.derived_file(session, design_id, number, file_id, kind)
    path = store.stored_path(derived.sha256, missing=f"the {kind} of file {file_id} is missing from the store")
    return FileResponse(
        path, media_type=media_type, filename=name, headers={"Cache-Control": "private, max-age=31536000, immutable"}
    )


@router.get(
    "/{design_id}/versions/{number}/files/{file_id}/thumbnail.png",
    response_class=FileResponse,
    summary="A part's thumbnail (PNG, rendered at upload)",
    responses={200: {"content": {"image/png": {}}}},
)
def thumbnail(
    design_id: str, number: DbInt, file_id: DbInt, session: DbSession, _: Caller, services: Services
) -> FileResponse:
    return _derived_response(
        session, services.files, design_id, number, file_id, "thumbnail", "image/png", f"{file_id}.png"
    )


@router.get(
    "/{design_id}/versions/{number}/files/{file_id}/viewer.glb",
    response_class=FileResponse,
    summary="A part's mesh as binary glTF for a 3D viewer",
    responses={200: {"content": {"model/gltf-binary": {}}}},
)
def viewer(
    design_id: str, number: DbInt, file_id: DbInt, session: DbSession, _: Caller, services: Services
) -> FileResponse:
    return _derived_response(
        session, services.files, design_id, number, file_id, "viewer", "model/gltf-binary", f"{file_id}.glb"
    )


@router.get(
    "/{design_id}/versions/{number}/okh.toml",
    response_class=Response,
    summary="Export a version as an OKH-LOSH manifest (okh.toml)",
    description="Has every OKH-LOSH required field (okhv, name, repo, version, license, licensor, "
    "documentation-language, function) and one `[[part]]` per file, with its quantity.",
    responses={200: {"content": {"application/toml": {}}}},
)
def export_okh(design_id: str, number: DbInt, session: DbSession, _: Caller, services: Services):
    text = okh.export_manifest(session, design_id, number, public_url=services.settings.public_url)
    return Response(
        text,
        media_type="application/toml",
        headers={"Content-Disposition": f'attachment; filename="{design_id}-v{number}-okh.toml"'},
    )


@router.get(
    "/{design_id}/remixes",
    response_model=list[DesignSummary],
    summary="Designs that declare this one as a direct parent, newest first",
)
def remixes(
    design_id: str,
    session: DbSession,
    _: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[DbInt, Query(ge=0)] = 0,
) -> list[DesignSummary]:
    return service.remixes_public(session, design_id, limit=limit, offset=offset)


@licences_router.get(
    "", response_model=list[LicencePublic], summary="The SPDX licences the catalogue accepts, with their terms"
)
def licences(_: Caller) -> list[LicencePublic]:
    return [service.licence_public(i) for i in known_licence_ids()]


__all__ = ["licences_router", "router", "uploads_router"]
