"""File downloads for nodes, authorised by the signed token carried in the job offer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from hub.deps import get_services
from hub.files.tokens import verify_download

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.get(
    "/{sha256}", summary="Download a stored file with a short-lived token from a job offer", response_class=FileResponse
)
def download(sha256: str, token: Annotated[str, Query(min_length=1)], services=Depends(get_services)):
    problem = verify_download(services.settings.secret_key, sha256, token)
    if problem:
        raise HTTPException(403, problem)
    try:
        path = services.files.path_for(sha256)
    except ValueError:
        raise HTTPException(404, "no such file") from None
    if not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, media_type="application/octet-stream", filename=sha256)
