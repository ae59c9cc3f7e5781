"""Short-lived download tokens: HMAC-signed `<sha256>:<expiry>`, so the hub keeps no token table
and a leaked token opens one file for a few minutes."""

from __future__ import annotations

import hashlib
import hmac
import time


def sign_download(secret: str, sha256: str, ttl_s: float, *, at: float | None = None) -> tuple[str, float]:
    expires = int((at if at is not None else time.time()) + ttl_s)
    mac = hmac.new(secret.encode(), f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}", float(expires)


def verify_download(secret: str, sha256: str, token: str, *, at: float | None = None) -> str | None:
    """Return None if valid, else the reason it is not."""
    try:
        expires_text, mac = token.split(".", 1)
        expires = int(expires_text)
    except ValueError:
        return "malformed download token"
    expected = hmac.new(secret.encode(), f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        return "download token does not match this file"
    if (at if at is not None else time.time()) > expires:
        return "download token has expired"
    return None
