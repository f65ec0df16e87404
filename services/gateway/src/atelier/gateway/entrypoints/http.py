"""The public HTTP API (FastAPI): thin handlers over the gateway's collaborators."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from atelier.contracts import workspace
from atelier.contracts.generation import GenerationRequested, GenerationRequestedData
from atelier.gateway import problems
from atelier.gateway.auth import User
from atelier.gateway.bootstrap import Gateway, gateway
from atelier.gateway.config import GatewaySettings
from atelier.gateway.domain.generation_request import GenerationRequest, resolve
from atelier.runtime import rpc

SOURCE = "gateway"


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: Literal["queued"] = "queued"


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


_bearer = HTTPBearer(auto_error=False)


def get_user(
    gw: Annotated[Gateway, Depends(get_gateway)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    return gw.auth.authenticate(credentials.credentials if credentials else None)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
UserDep = Annotated[User, Depends(get_user)]


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with gateway(settings) as gw:
            app.state.gateway = gw
            yield

    app = FastAPI(title="Atelier", version="0.1.0", lifespan=lifespan)
    problems.install(app)

    @app.post("/v1/generations", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
    async def submit_generation(
        body: GenerationRequest, user: UserDep, gw: GatewayDep, response: Response
    ) -> JobAccepted:
        spec = resolve(body, gw.settings)
        job_id = uuid.uuid4()
        event = GenerationRequested.create(
            source=SOURCE,
            user_id=user.id,
            data=GenerationRequestedData(job_id=job_id, model=spec.model, spec=spec),
        )
        await gw.bus.publish(event)
        response.headers["Location"] = f"/v1/generations/{job_id}"
        return JobAccepted(job_id=job_id)

    @app.get("/v1/workspace/assets", response_model=workspace.AssetPage)
    async def list_workspace_assets(
        user: UserDep,
        gw: GatewayDep,
        limit: Annotated[int, Query(ge=1, le=workspace.MAX_PAGE_SIZE)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> workspace.AssetPage:
        query = workspace.ListAssets(user_id=user.id, limit=limit, cursor=cursor)
        return await rpc.call(gw.nc, workspace.LIST_ASSETS, query, workspace.AssetPage)

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

    return app
