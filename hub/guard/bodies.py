"""Request body limits, enforced while the body arrives and before anything else reads it.

Why here and not in the routes: FastAPI reads a JSON body whole before it resolves any
dependency, authentication included, so a route cannot refuse a body it has not yet
received; an unauthenticated 400 MB body took the hub from 324 MB to 1.4 GB. This pure ASGI
middleware (no `BaseHTTPMiddleware`: uploads must still stream) sits outside every route and
counts the bytes of the `http.request` messages as the app asks for them. A body declared
(`Content-Length`) or found to be past its kind's limit gets a 413 at once, naming the
limit; whatever the app then tries to send is dropped, and the server discards the rest of
the body as it comes in, without keeping it.

Kinds: the raw uploads (`POST /api/v1/uploads`, and `POST /api/v1/designs` with a body that is
not JSON) may be as large as the upload cap; every other `/api/` request is a JSON body (the
OKH import's manifest too: its own limit is smaller still); everything else is a web page's
form post.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_ROUTES = frozenset({"/api/v1/uploads", "/api/v1/designs"})
"""Where a POST's body is a raw file streamed to disk (`hub.catalog.views`), unless it is JSON."""


@dataclass(frozen=True)
class BodyLimits:
    json: int
    form: int
    upload: int

    def for_request(self, scope: Scope) -> tuple[int, str]:
        """The limit for this request's body and what to call it in the refusal."""
        path = scope["path"]
        if scope["method"] == "POST" and path in UPLOAD_ROUTES and _media_type(scope) != "application/json":
            return self.upload, "an upload"
        if path.startswith("/api/"):
            return self.json, "a JSON API request"
        return self.form, "a form post"


def _media_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class _BodyTooLarge(Exception):
    """Raised into the app from `receive`; the 413 has already been sent."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limits.for_request(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(
                scope, receive, send, f"a body of {declared:,} bytes is past the limit of {limit:,} bytes for {what}"
            )
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise _BodyTooLarge  # the app asks again after the refusal: it gets no more of the body
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _too_large(
                            scope, receive, send, f"the body is past the limit of {limit:,} bytes for {what}"
                        )
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; the app's reaction to the refused body is not
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            pass  # answered (413), or the app had started its answer and it ends here


async def _too_large(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
