"""The public HTTP API (FastAPI): the app factory; routes live in one module per area."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atelier.gateway import problems
from atelier.gateway.bootstrap import gateway
from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints import (
    admin,
    console,
    events,
    generations,
    library,
    openapi,
    shared,
    usage,
    webhooks,
    workspace,
)
from atelier.gateway.entrypoints.dependencies import GatewayDep
from atelier.runtime import metrics, tracing


class CountRequests:
    """Counts answered requests by method, route and status. A plain ASGI middleware:
    Starlette's `BaseHTTPMiddleware` runs each request in a task of its own behind memory
    streams, which cost more per request than the count."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":  # the route is resolved by now
                route = scope.get("route")
                path = route.path if route is not None else "unmatched"
                metrics.HTTP_REQUESTS.labels(scope["method"], path, message["status"]).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with gateway(settings) as gw:
            app.state.gateway = gw
            yield

    app = FastAPI(
        title="Atelier",
        version="0.1.0",
        summary="Image and video generation, a workspace and a library, per user",
        description="Every route under `/v1` needs a bearer JWT, but for the shared assets' "
        "(`/v1/shared/…`, `/v1/public/…`, and the pages and files under `/s/`), which anyone "
        "may read, at a rate per client address. Errors are "
        "`application/problem+json` (RFC 9457). The events of `/v1/events` are described by "
        "the AsyncAPI document `libs/contracts/asyncapi.json`.",
        servers=[{"url": "/", "description": "This gateway (paths relative to this document)"}],
        license_info=LICENSE,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    # SERVER spans per request (not per ASGI send/receive: an event stream sends for hours),
    # without the token of `?access_token=` or of a captured Authorization header
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="healthz,readyz,metrics",
        exclude_spans=["send", "receive"],
        server_request_hook=tracing.redact_server_span,
    )
    problems.install(app)
    routers = (
        generations.router,
        workspace.router,
        library.router,
        shared.router,
        events.router,
        usage.router,
        webhooks.router,
        admin.router,
    )
    for router in routers:
        app.include_router(router)

    app.add_middleware(CountRequests)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        payload, content_type = metrics.exposition()
        return Response(payload, media_type=content_type)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(gw: GatewayDep) -> JSONResponse:
        ready = gw.nc.is_connected
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "nats": gw.nc.is_connected},
            status_code=200 if ready else 503,
        )

    openapi.install(app)
    console.mount(app, settings.presign_endpoint_url)
    return app


#: No licence file has been chosen for the project yet: the API is declared proprietary
#: until one is (change it here and the OpenAPI document follows).
LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Atelier-Proprietary"}


def operation_id(route: APIRoute) -> str:
    """`{tag}_{function}`: unique, stable, and short names in generated clients."""
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name
