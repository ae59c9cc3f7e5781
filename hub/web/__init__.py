"""The web faces (maker, designer, lab, city): pages, live streams and static assets.

`install(app)` is the one hook the hub's app calls: it adds the cookie sign-in middleware,
the page and stream routes, the page error handlers and the static files.
- `views`: the server-rendered pages (Jinja2, `templates/`) and their error handlers;
- `stream`: live updates as Server-Sent Events; `session`: the API token kept in a cookie;
- `queries`: the read-only queries the pages need beyond the domains' services;
- `charts`: bar charts as plain data for SVG templates; `static/`: scripts and styles.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    from hub.web.session import CookieAuthMiddleware
    from hub.web.stream import router as stream_router
    from hub.web.views import install_handlers
    from hub.web.views import router as pages_router

    app.add_middleware(CookieAuthMiddleware)
    app.include_router(stream_router)
    app.include_router(pages_router)
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
