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
    """Answer every `DomainError` with its status code, message and headers, and say so in
    the OpenAPI document."""

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_refusals(build_openapi())
        return app.openapi_schema or build_openapi()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def _document_refusals(schema: dict[str, Any]) -> None:
    """FastAPI documents every 422 as a list of validation errors; the hub's `Rejected` answers
    a 422 with one message. The shared component says both, so clients and schema checks see
    the answers the hub gives."""
    validation = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation is None:
        return
    listed = validation["properties"]["detail"]
    validation["properties"]["detail"] = {
        "title": "Detail",
        "description": "What was refused: a message, or for invalid input each field's error.",
        "anyOf": [{"type": "string"}, {key: value for key, value in listed.items() if key != "title"}],
    }
