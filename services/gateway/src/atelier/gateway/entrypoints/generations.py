"""`/v1/generations`: submit and cancel jobs; `/v1/uploads`: images to start from."""

from __future__ import annotations

import io
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, status
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

from atelier.contracts import library, storage, subjects, workspace
from atelier.contracts.generation import (
    OUTCOMES,
    GenerationCancelRequested,
    GenerationCancelRequestedData,
    GenerationRequested,
    GenerationRequestedData,
    ImageRef,
)
from atelier.gateway.domain.generation_request import GenerationRequest, ImageSource, resolve
from atelier.gateway.entrypoints.dependencies import GatewayDep, UserDep
from atelier.gateway.problems import Problem
from atelier.runtime.aggregates import Decision, History, Refused, execute

router = APIRouter(tags=["generations"])
SOURCE = "gateway"

UPLOAD_TYPES = {"image/png", "image/jpeg", "image/webp"}
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: Literal["queued", "cancelling"]


class Uploaded(BaseModel):
    upload_id: uuid.UUID
    width: int
    height: int


@router.post("/v1/generations", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def submit_generation(
    body: GenerationRequest, user: UserDep, gw: GatewayDep, response: Response
) -> JobAccepted:
    images = {
        role: await _locate(gw, user.id, source) for role, source in body.image_sources().items()
    }
    spec = resolve(body, gw.settings, images)
    job_id = uuid.uuid4()
    event = GenerationRequested.create(
        source=SOURCE,
        user_id=user.id,
        data=GenerationRequestedData(job_id=job_id, model=spec.model, spec=spec),
    )
    await gw.bus.publish(event)
    response.headers["Location"] = f"/v1/generations/{job_id}"
    return JobAccepted(job_id=job_id, status="queued")


@router.post(
    "/v1/generations/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
)
async def cancel_generation(job_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> JobAccepted:
    """A queued job is skipped; a running one stops at its next step."""

    def decide(history: History) -> Decision[JobAccepted]:
        last = history.last
        if last is None:
            raise Refused(404, "Not Found", "no such generation")
        if isinstance(last, OUTCOMES):
            raise Refused(409, "Conflict", f"the generation has ended: {last.type}")
        accepted = JobAccepted(job_id=job_id, status="cancelling")
        if isinstance(last, GenerationCancelRequested):
            return Decision([], accepted)
        data = GenerationCancelRequestedData(job_id=job_id, model=last.data.model)
        event = GenerationCancelRequested.create(source=SOURCE, user_id=user.id, data=data)
        return Decision([event], accepted)

    return await execute(gw.bus, subjects.generation_history(user.id, job_id), decide)


@router.post("/v1/uploads", status_code=status.HTTP_201_CREATED, response_model=Uploaded)
async def upload_image(
    request: Request,
    user: UserDep,
    gw: GatewayDep,
    content_type: Annotated[str, Header()] = "",
) -> Uploaded:
    """An image (PNG, JPEG or WebP, the raw bytes as the body) to use as a reference or
    a frame; it is re-encoded as PNG, which also drops whatever else the file carried."""
    if content_type.split(";")[0].strip() not in UPLOAD_TYPES:
        raise Problem(415, "Unsupported Media Type", f"send one of {sorted(UPLOAD_TYPES)}")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > MAX_UPLOAD_BYTES:
            raise Problem(413, "Content Too Large", f"at most {MAX_UPLOAD_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_UPLOAD_PIXELS:
                raise Problem(413, "Content Too Large", "at most 4096 x 4096 pixels")
            png = io.BytesIO()
            image.convert("RGB").save(png, format="PNG")
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise Problem(422, "Invalid request", "the body is not a readable image") from None
    upload_id = uuid.uuid4()
    key = storage.upload(user.id, upload_id)
    await gw.objects.put(storage.WORKSPACE_BUCKET, key, png.getvalue(), "image/png")
    return Uploaded(upload_id=upload_id, width=width, height=height)


async def _locate(gw, user_id: uuid.UUID, source: ImageSource) -> ImageRef:
    """Where the user's image is; 404 when it is not theirs (or not an image)."""
    if source.asset_id is not None:
        query = workspace.LocateImage(user_id=user_id, asset_id=source.asset_id)
        return await gw.call(workspace.LOCATE_IMAGE, query, ImageRef)
    if source.library_asset_id is not None:
        query = library.AssetRef(user_id=user_id, library_asset_id=source.library_asset_id)
        return await gw.call(library.LOCATE_IMAGE, query, ImageRef)
    key = storage.upload(user_id, source.upload_id)
    if not await gw.objects.exists(storage.WORKSPACE_BUCKET, key):
        raise Problem(404, "Not Found", "no such upload")
    return ImageRef(bucket=storage.WORKSPACE_BUCKET, key=key)
