"""`/v1/generations`: submit a job."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from atelier.contracts.generation import GenerationRequested, GenerationRequestedData
from atelier.gateway.domain.generation_request import GenerationRequest, resolve
from atelier.gateway.entrypoints.dependencies import GatewayDep, UserDep

router = APIRouter(prefix="/v1/generations", tags=["generations"])
SOURCE = "gateway"


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: Literal["queued"] = "queued"


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
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
