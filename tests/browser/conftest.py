"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by the pip
`playwright` package (its own browser download cannot run on these machines).

Every page is opened through `Faces.open`, which signs in with a token the way a person does
(the login form), records every request the page makes and every script error, and fails the
test if any request left the hub (no asset may come from the internet) or a script threw.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import require_component

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's hosts at every start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        require_component("Chromium", "no /usr/bin/chromium; `bash scripts/setup.sh` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def is_local(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost", "::1")


@dataclass
class Faces:
    browser: object
    base_url: str
    requests: list[str] = field(default_factory=list)

    @contextmanager
    def open(self, token: str, *, phone: bool = False) -> Iterator[object]:
        """A signed-in browser tab (its own cookie jar), desktop or phone-sized."""
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport=PHONE if phone else DESKTOP,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            accept_downloads=True,
        )
        context.set_default_timeout(30_000)
        seen: list[str] = []
        errors: list[str] = []
        context.on("request", lambda request: seen.append(request.url))
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
        page.on(
            "console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        try:
            page.goto("/login")
            page.fill("#token", token)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_load_state()
            assert "/login" not in page.url, "sign-in failed"
            yield page
        finally:
            context.close()
            self.requests.extend(seen)
        outside = [url for url in seen if not is_local(url)]
        assert not outside, f"pages requested addresses outside the hub: {outside}"
        # a stream cut when the tab closes is not an error of the page
        assert not [e for e in errors if "ERR_ABORTED" not in e], errors


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
