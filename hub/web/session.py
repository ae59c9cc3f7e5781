"""Sign-in for the web pages: the API token kept in an HttpOnly cookie.

Why a cookie and not the token in the page: an HttpOnly cookie cannot be read by script, so a
script injected into a page cannot steal the token. The hub's API knows only bearer tokens,
so `CookieAuthMiddleware` turns the cookie into the same `Authorization: Bearer` header on
`/api/` requests that carry no header of their own: every role check of the API then applies
unchanged, and `hub.auth` needs no change.

Why CSRF protection on top of SameSite=Strict: a browser that ignores SameSite, or a sibling
subdomain, could still send the cookie with a forged request. A state-changing cookie request
must therefore carry `X-CSRF-Token`, an HMAC of the token's hash under the hub's secret: a
page of the hub has it (in a meta tag), another site cannot read it, and a custom header
cannot be sent cross-origin without a CORS preflight the hub never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "cofab_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIE_MAX_AGE_S = 30 * 24 * 3600


def csrf_token(secret: str, api_token: str) -> str:
    """Bound to the signed-in token: it changes when the person signs in with another token."""
    digest = hashlib.sha256(api_token.encode()).hexdigest()
    return hmac.new(secret.encode(), f"csrf:{digest}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(secret: str, api_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, api_token), presented)


def cookie_value(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == COOKIE and val:
                    return val
    return None


class CookieAuthMiddleware:
    """Pure ASGI (the request body is never touched, so uploads still stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = list(scope["headers"])
        if any(name == b"authorization" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        token = cookie_value(headers)
        if token is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            secret = scope["app"].state.services.settings.secret_key
            presented = next((v.decode("latin-1") for n, v in headers if n == CSRF_HEADER.encode()), None)
            if not csrf_ok(secret, token, presented):
                await _forbidden(
                    send,
                    "missing or wrong X-CSRF-Token: a page of this hub sends it with the "
                    "sign-in cookie; other sites cannot",
                )
                return
        headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
        await self.app({**scope, "headers": headers}, receive, send)


async def _forbidden(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
