"""`/v1/generations`: submit and cancel jobs; `/v1/uploads`: images to start from."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field, StringConstraints

from atelier.contracts import jobs, library, scheduling, storage, subjects, workspace
from atelier.contracts.assets import AssetSettings
from atelier.contracts.generation import (
    OUTCOMES,
    GenerationCancelRequested,
    GenerationCancelRequestedData,
    GenerationRequested,
    GenerationRequestedData,
    ImageRef,
    Reference,
    RemixOf,
)
from atelier.contracts.jobs import JobStatus, JobStatusName
from atelier.contracts.requests import MAX_PAGE_SIZE
from atelier.contracts.text import SINGLE_LINE
from atelier.gateway.domain.generation_request import (
    GenerationRequest,
    ImageSource,
    remix,
    resolve,
)
from atelier.gateway.domain.png_parameters import png_parameters
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep, UserDep
from atelier.gateway.problems import Problem, responses
from atelier.runtime.aggregates import Decision, LastEvent, Refused, execute, read_last_event
from atelier.runtime.bus import ConcurrencyConflict
from atelier.runtime.limits import LimitExceeded, QuotaExceeded
from atelier.runtime.rpc import RpcError

router = APIRouter(tags=["generations"], responses=responses(401, 500))
SOURCE = "gateway"
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5d1b9f62-6a77-4c1e-9a43-3d8f2c5e7b90")

UPLOAD_TYPES = {"image/png", "image/jpeg", "image/webp"}
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096

IdempotencyKey = Annotated[str, StringConstraints(max_length=200), SINGLE_LINE]


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: Literal["queued", "cancelling"]


class Uploaded(BaseModel):
    upload_id: uuid.UUID
    width: int
    height: int
    parameters: AssetSettings | None = Field(
        description="The generation parameters an Atelier PNG carried (its `parameters` "
        "chunk), ready for a request; null for any other image"
    )


@router.post(
    "/v1/generations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(404, 409, 422, 429, 503),
)
async def submit_generation(
    body: GenerationRequest,
    user: UserDep,
    gw: GatewayDep,
    response: Response,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> JobAccepted:
    """Queue a job. With an `Idempotency-Key`, the same key and body give the same job
    (after a gateway restart too: the log remembers); the same key with another body is
    refused with 422. With `remix_of`, the asset's settings are the request's, and the
    fields present in the body override them (404 when the asset is not the user's)."""
    if idempotency_key is None:
        job_id, request_hash = uuid.uuid4(), None
    else:
        job_id, request_hash = idempotent_job(user.id, idempotency_key, body)
    response.headers["Location"] = f"/v1/generations/{job_id}"
    accepted = JobAccepted(job_id=job_id, status="queued")
    if idempotency_key is not None and await _asked_before(gw, user.id, job_id, request_hash):
        return accepted  # a retry: what it named may have changed or gone since
    request, carried = body, None
    if body.remix_of is not None:
        request, carried = remix(body, await _settings_of(gw, user.id, body.remix_of))
    images = {
        role: await _locate(gw, user.id, source) for role, source in request.image_sources().items()
    }
    if carried is not None:
        await _still_there(gw, user.id, carried)
    spec = resolve(request, gw.settings, images, carried)
    event = GenerationRequested.create(
        source=SOURCE,
        user_id=user.id,
        data=GenerationRequestedData(
            job_id=job_id,
            model=spec.model,
            spec=spec,
            request_hash=request_hash,
            tier=user.tier,
            remix_of=body.remix_of,
        ),
    )
    if idempotency_key is None:
        await _admit_and_publish(gw, event)
        return accepted
    for _ in range(2):
        if await _asked_before(gw, user.id, job_id, request_hash):
            return accepted
        try:
            await _admit_and_publish(gw, event, first_of_its_job=True)
        except ConcurrencyConflict:
            continue  # the same key, at the same moment: compare with that request
        return accepted
    raise Problem(409, "Conflict", "the idempotency key is in use; retry")


async def _asked_before(gw, user_id: uuid.UUID, job_id: uuid.UUID, request_hash: str) -> bool:
    """Whether the job an Idempotency-Key names was requested, with the same body (422 if
    with another)."""
    earlier = await _requested(gw, user_id, job_id)
    if earlier is None:
        return False
    if earlier.data.request_hash != request_hash:
        raise Problem(422, "Idempotency key reused", "this key was sent before with another body")
    return True


async def _settings_of(gw, user_id: uuid.UUID, remix_of: RemixOf) -> AssetSettings:
    """The settings of the asset a remix names; 404 (naming remix_of) if not the user's."""
    if remix_of.asset_id is not None:
        query = workspace.AssetSettingsOf(user_id=user_id, asset_id=remix_of.asset_id)
        return await gw.call(workspace.ASSET_SETTINGS, query, AssetSettings)
    ref = library.AssetRef(user_id=user_id, library_asset_id=remix_of.library_asset_id)
    return await gw.call(library.ASSET_SETTINGS, ref, AssetSettings)


async def _still_there(gw, user_id: uuid.UUID, carried: Reference) -> None:
    """A remix's carried-over reference image is still the user's and still stored."""
    image = carried.image
    if image.owner != str(user_id) or not await gw.objects.exists(image.bucket, image.key):
        raise Problem(
            404,
            "Not Found",
            "remix_of: the asset's reference image is gone; give reference_image "
            "(or null to go without)",
        )


async def _admit_and_publish(
    gw, event: GenerationRequested, *, first_of_its_job: bool = False
) -> None:
    """Count the job against the user's limits and their tier's quotas (429 beyond them),
    then queue it; a job that could not be queued stops counting at once (if the log
    cannot tell whether it was, the workspace's reconciliation decides later)."""
    user_id, job_id = event.user_id, event.data.job_id
    tier = gw.settings.policy(event.data.tier)
    try:
        await gw.limits.admit(user_id, job_id, tier.max_active_jobs)
        try:
            await gw.quotas.admit(user_id, tier)
        except BaseException:
            await gw.limits.release(user_id, job_id)
            raise
    except LimitExceeded as exceeded:
        raise _too_many(exceeded) from None
    history = subjects.generation_history(user_id, job_id) if first_of_its_job else None
    try:
        await gw.bus.publish(
            event, expected_last_sequence=0 if history else None, concurrency_filter=history
        )
    except ConcurrencyConflict:
        raise  # the job exists: it counts, and stops counting when it ends
    except BaseException:
        with contextlib.suppress(Exception):  # a lost ack: it may be on the log after all
            if await _requested(gw, user_id, job_id) is None:
                await gw.limits.release(user_id, job_id)
                await gw.quotas.release(user_id, tier)
        raise


def _too_many(exceeded: LimitExceeded) -> Problem:
    """429, and for a quota which one, how much of it is used and when it resets."""
    headers = {"Retry-After": str(exceeded.retry_after)}
    if not isinstance(exceeded, QuotaExceeded):
        return Problem(429, "Too Many Requests", exceeded.detail, headers=headers)
    quota = {
        "quota": exceeded.quota,
        "used": exceeded.used,
        "limit": exceeded.limit,
        "resets_at": exceeded.resets_at.isoformat().replace("+00:00", "Z"),
    }
    return Problem(429, "Quota exceeded", exceeded.detail, headers=headers, extensions=quota)


@router.get("/v1/generations", response_model=jobs.JobPage, responses=responses(400, 422, 503))
async def list_generations(
    user: UserDep,
    gw: GatewayDep,
    states: Annotated[
        list[JobStatusName] | None, Query(alias="status", description="Only these states")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Cursor = None,
) -> jobs.JobPage:
    """The user's jobs, newest first; `?status=queued&status=running` after a reload."""
    query = jobs.ListJobs(user_id=user.id, status=tuple(states or ()), limit=limit, cursor=cursor)
    return await gw.call(jobs.LIST_JOBS, query, jobs.JobPage)


@router.get(
    "/v1/generations/{job_id}", response_model=JobStatus, responses=responses(404, 422, 503)
)
async def get_generation(job_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> JobStatus:
    """Status, progress while running, place in the fair queue while waiting (jobs of the
    same model that go to a worker before it), timings, error, asset ids."""
    job = await gw.call(jobs.GET_JOB, jobs.GetJob(user_id=user.id, job_id=job_id), JobStatus)
    if job.status != "queued" or job.cancel_requested:
        return job
    query = scheduling.GetQueuePosition(user_id=user.id, job_id=job_id)
    try:
        place = await gw.call(scheduling.QUEUE_POSITION, query, scheduling.QueuePosition)
    except RpcError:  # the scheduler is away: the workspace's count by arrival stands
        return job
    return job.model_copy(update={"queue_position": place.position})


@router.post(
    "/v1/generations/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(404, 409, 422, 503),
)
async def cancel_generation(job_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> JobAccepted:
    """A queued job is skipped; a running one stops at its next step."""

    def decide(tip: LastEvent) -> Decision[JobAccepted]:
        last = tip.event
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


@router.post(
    "/v1/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=Uploaded,
    responses=responses(413, 415, 422),
    openapi_extra={  # the body is read as a stream, so FastAPI cannot see it: say what it is
        "requestBody": {
            "required": True,
            "description": f"The image's bytes, at most {MAX_UPLOAD_BYTES} bytes",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in sorted(UPLOAD_TYPES)
            },
        }
    },
)
async def upload_image(
    request: Request,
    user: UserDep,
    gw: GatewayDep,
    content_type: Annotated[str, Header()] = "",
) -> Uploaded:
    """An image (PNG, JPEG or WebP, the raw bytes as the body) to use as a reference or
    a frame; it is re-encoded as PNG, which also drops whatever else the file carried.
    `parameters`: the settings an image made by Atelier carried (read before
    re-encoding), for a request to use again; null for any other image."""
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
            parameters = png_parameters(image)
    # ValueError: Pillow's own limits on a file's text chunks
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Problem(422, "Invalid request", "the body is not a readable image") from None
    upload_id = uuid.uuid4()
    key = storage.upload(user.id, upload_id)
    await gw.objects.put(storage.WORKSPACE_BUCKET, key, png.getvalue(), "image/png")
    return Uploaded(upload_id=upload_id, width=width, height=height, parameters=parameters)


def idempotent_job(user_id: uuid.UUID, key: str, body: GenerationRequest) -> tuple[uuid.UUID, str]:
    """The job id an Idempotency-Key names, and the hash of the body sent with it. A remix
    hashes the fields sent only (a default is no override, but a field sent with the
    default's value is); any other body hashes as it did before remixes existed."""
    if body.remix_of is not None:
        sent = body.model_dump(mode="json", exclude_unset=True)
    else:
        sent = body.model_dump(mode="json", exclude={"remix_of"})
    canonical = json.dumps(sent, sort_keys=True, separators=(",", ":"))
    job_id = uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user_id}:{key}")
    return job_id, hashlib.sha256(canonical.encode()).hexdigest()


async def _requested(gw, user_id: uuid.UUID, job_id: uuid.UUID) -> GenerationRequested | None:
    """The job's `generation.requested` event, if the log has it (whatever its model)."""
    subject = subjects.generation_history(user_id, job_id, GenerationRequested.name)
    return (await read_last_event(gw.bus, subject)).event


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
