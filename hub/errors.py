"""The hub's domain errors, and the one place they become HTTP answers.

Services raise these (never `HTTPException`, never a built-in such as `LookupError` meant
as "404"): a service does not know it is behind HTTP, and one error means one status code
everywhere. `install(app)` maps them once in `create_app`; routes map nothing by hand.
The body keeps FastAPI's shape, `{"detail": message}`, so clients see one error format.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class DomainError(Exception):
    """A refusal the caller can act on. `detail` is the message (or a structured list, as
    for validation errors); `headers` go on the answer (`Retry-After`, `WWW-Authenticate`)."""

    status_code: ClassVar[int] = 400

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        self.headers = headers or {}


class NotFound(DomainError):
    """No such thing, or nothing the caller may see (the two answer alike on purpose)."""

    status_code = 404


class Unauthenticated(DomainError):
    """No credentials, or credentials the hub does not accept."""

    status_code = 401

    def __init__(self, detail: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    """The caller is known and may not do this."""

    status_code = 403


class Conflict(DomainError):
    """The thing exists but its state does not allow this now (an offer already answered,
    a lab already registered)."""

    status_code = 409


class TooLarge(DomainError):
    """The request or its content is over a limit; the message names the limit."""

    status_code = 413


class Rejected(DomainError):
    """Understood and refused with a reason: invalid content, a rule of the cooperative."""

    status_code = 422


def install(app: FastAPI) -> None:
    """Answer every `DomainError` with its status code, message and headers."""

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
