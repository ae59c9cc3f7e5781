"""Helpers for catalogue tests: publish and stage files through the API, and count what is
stored (objects in the content store and rows in every catalogue table), so each refusal can
show that it left nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from cofab.devstack.samples import box, stl_bytes
from hub.catalog.models import (
    Design,
    DesignFile,
    DesignMaterial,
    DesignRemix,
    DesignTag,
    DesignVersion,
    FileDerivative,
    Upload,
)
from tests.conftest import bearer
from tests.corpus import CORPUS

_TABLES = (Design, DesignVersion, DesignFile, FileDerivative, Upload, DesignRemix, DesignTag, DesignMaterial)


def cube(size: float = 20.0) -> bytes:
    return stl_bytes(box((size, size, size)))


def publish(
    api,
    token: str,
    data: bytes | None = None,
    *,
    filename: str = "part.stl",
    title: str = "A part",
    expect: int | None = 201,
    **params,
):
    params = {k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}
    response = api.post(
        "/api/v1/designs",
        content=cube() if data is None else data,
        headers={**bearer(token), "Content-Type": "application/octet-stream"},
        params={"filename": filename, "title": title, **params},
    )
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def stage(api, token: str, data: bytes, filename: str = "part.stl", expect: int | None = 201):
    response = api.post(
        "/api/v1/uploads",
        content=data,
        params={"filename": filename},
        headers={**bearer(token), "Content-Type": "application/octet-stream"},
    )
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def stored(api) -> dict[str, int]:
    """Objects in the store (committed and staging) and rows per catalogue table."""
    services = api.app.state.services
    counts = {"objects": services.files.count(), "staging": services.files.staging_count()}
    with Session(services.engine) as session:
        for table in _TABLES:
            counts[table.__tablename__] = session.exec(select(func.count()).select_from(table)).one()
    return counts


def corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"corpus file {relative} is not here ({CORPUS}); the shared corpus is needed")
    return path
