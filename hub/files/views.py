"""File downloads for nodes, authorised by the signed token carried in the job offer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from hub.deps import Services
from hub.errors import Forbidden
from hub.files.tokens import verify_download

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.get(
    "/{sha256}", summary="Download a stored file with a short-lived token from a job offer", response_class=FileResponse
)
def download(sha256: str, token: Annotated[str, Query(min_length=1)], services: Services) -> FileResponse:
    problem = verify_download(services.settings.secret_key, sha256, token)
    if problem:
        raise Forbidden(problem)
    path = services.files.stored_path(sha256)
    return FileResponse(path, media_type="application/octet-stream", filename=sha256)
