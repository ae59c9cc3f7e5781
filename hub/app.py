"""The hub's FastAPI application. `create_app(settings)` is the one entry point; routes are
thin and reach services through `hub.deps`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hub import errors, guard
from hub.auth.views import router as auth_router
from hub.catalog.views import licences_router, uploads_router
from hub.catalog.views import router as catalog_router
from hub.config import Settings
from hub.files.views import router as files_router
from hub.jsonbody import StrictJsonBodies
from hub.metrics.views import router as metrics_router
from hub.nodes.views import router as nodes_router
from hub.orders.views import router as orders_router
from hub.runtime import start_services
from hub.web import install as install_web

DESCRIPTION = """
cofab hub: a cooperative's catalogue of open designs that routes print jobs to the nearest
capable fab lab over MQTT. Every endpoint needs an API token (`Authorization: Bearer …`) of
the role it names, except file downloads, which take the short-lived token from a job offer.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The hub's parts live as long as the app serves: started before the first request,
        stopped in reverse after the last (`hub.runtime`)."""
        app.state.services = start_services(settings)
        try:
            yield
        finally:
            app.state.services.stop()

    app = FastAPI(title="cofab hub", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(StrictJsonBodies)  # NaN, Infinity and 1e400 are not JSON: 422, not a 500
    for router in (
        auth_router,
        catalog_router,
        uploads_router,
        licences_router,
        files_router,
        nodes_router,
        orders_router,
        metrics_router,
    ):
        app.include_router(router)
    install_web(app)  # the web faces: pages, live streams, static files, cookie sign-in
    guard.install(app, settings.limits, settings.upload_max_bytes)  # body, rate and stream limits

    @app.get("/healthz", tags=["ops"], summary="Liveness, and whether the hub hears the broker")
    def health() -> dict:
        services = app.state.services
        return {"ok": True, "mqtt_connected": bool(services.mqtt and services.mqtt.connected)}

    return app
