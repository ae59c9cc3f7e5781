"""Helpers for catalogue tests (publishing and staging are tests.factories'): count what is
stored (objects in the content store and rows in every catalogue table), so each refusal can
show that it left nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from hub.catalog import models as catalog_models
from tests.corpus import CORPUS

# Every table the catalogue defines, found in its models module, so a table added there is
# counted too.
_TABLES = tuple(
    model
    for model in vars(catalog_models).values()
    if isinstance(model, type) and model.__module__ == catalog_models.__name__ and hasattr(model, "__table__")
)


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
