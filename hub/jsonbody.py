"""JSON request bodies must be JSON: `NaN`, `Infinity` and numbers too large for a float are
refused with 422 before any route sees them.

Why: Starlette decodes every body FastAPI validates with Python's `json.loads`, which accepts
`NaN`, `Infinity` and `-Infinity` (RFC 8259 does not) and turns `1e400` into infinity; pydantic
then passes the non-finite float on to geometry, pricing and the database, where it ends in a
500 or is stored (a lab with an infinite build volume). Why one check on the way in rather
than `allow_inf_nan=False` on each model: it covers every body model, today's and tomorrow's,
and no model has a reason to want a non-finite number from a client.

Malformed JSON is left alone here: FastAPI answers it with its own 422 `json_invalid`, and a
refusal from this module has the same shape, so clients see one error format.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _NotJson(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"number {text[:40]} is out of range")
    return value


def refusal(body: bytes) -> str | None:
    """Why `body` is not strict JSON, or None when it is (or is malformed in a way FastAPI reports)."""
    try:
        json.loads(body, parse_constant=_constant, parse_float=_finite)
    except _NotJson as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(scope: Scope) -> bool:
    """The media types FastAPI decodes as JSON: application/json and application/*+json."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            main, _, sub = value.split(b";", 1)[0].strip().lower().partition(b"/")
            return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))
    return False


class StrictJsonBodies:
    """Pure ASGI: reads a JSON body (as FastAPI would anyway), checks it, then hands the same
    bytes on; every other body (uploads, manifests, forms) streams through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        message: Message = {"more_body": True}
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was complete: nobody to answer
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        reason = refusal(body)
        if reason is not None:
            error = {"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error", "ctx": {"error": reason}}
            await JSONResponse({"detail": [error]}, status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
