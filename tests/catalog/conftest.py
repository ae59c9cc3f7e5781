"""Helpers for catalogue tests (publishing and staging are tests.factories'): count what is
stored (objects in the content store and rows in every catalogue table), so each refusal can
show that it left nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

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
from tests.corpus import CORPUS

_TABLES = (Design, DesignVersion, DesignFile, FileDerivative, Upload, DesignRemix, DesignTag, DesignMaterial)


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
