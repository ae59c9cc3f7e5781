"""Typed request dependencies: the database session and the app's services.

Services are built once in `hub.app.create_app` and kept on `app.state`; routes reach them
here, so nothing is an import-time singleton.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import Request
from sqlmodel import Session

if TYPE_CHECKING:
    from hub.services import HubServices


def get_services(request: Request) -> HubServices:
    return request.app.state.services


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        yield session
