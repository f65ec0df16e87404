"""`/v1/events`: Server-Sent Events for the authenticated user.

Everything that happens to the user's jobs, workspace and library arrives as it is
appended to the log (once the workspace and library tables show it, so that a client
reading them next sees the change), each with its stream sequence as the event id: a client that
reconnects with `Last-Event-ID` gets exactly what it missed, replayed from the log, and
nothing twice. Step progress (with small previews) comes from core NATS, without an id:
it is ephemeral. Comment lines keep idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from atelier.contracts import storage, subjects
from atelier.contracts.generation import GenerationCompleted, generated_asset_id
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.gateway.auth import User
from atelier.gateway.bootstrap import Gateway
from atelier.gateway.entrypoints.dependencies import BearerDep, GatewayDep, access_token_query
from atelier.gateway.problems import responses
from atelier.runtime import tracing

router = APIRouter(tags=["events"])


@router.get(
    "/v1/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events (`id`: the stream sequence; `event`: the event "
            "type, or `generation.progress`; `data`: the event as JSON), until the client "
            "leaves",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
    | responses(401, 500),
)
async def events(
    request: Request,
    gw: GatewayDep,
    credentials: BearerDep,
    access_token: Annotated[str | None, Depends(access_token_query)],
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The `id` of the last event received: the stream resumes after it",
        ),
    ] = None,
) -> StreamingResponse:
    """The user's jobs, workspace and library as they change, as Server-Sent Events:
    resumable with `Last-Event-ID`; each event's `data` is described by the AsyncAPI
    document (`libs/contracts/asyncapi.json`)."""
    user = await gw.auth.authenticate(credentials.credentials if credentials else access_token)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    return StreamingResponse(
        _stream(request, gw, user, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, gw: Gateway, user: User, after: int | None
) -> AsyncIterator[str]:
    queue: asyncio.Queue[tuple[str, Msg | None]] = asyncio.Queue(maxsize=10_000)
    overflowed = asyncio.Event()

    def put(frame: str, msg: Msg | None = None) -> None:
        if queue.full():
            overflowed.set()  # a client this slow reconnects and resumes from its last id
        else:
            queue.put_nowait((frame, msg))

    async def on_event(msg: Msg) -> None:
        put(await _log_frame(gw, msg), msg)

    async def on_progress(msg: Msg) -> None:
        put(f"event: generation.progress\ndata: {msg.data.decode()}\n\n")

    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.NEW if after is None else DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=None if after is None else after + 1,
    )
    log_sub = await gw.bus.js.subscribe(
        subjects.user_events(user.id), cb=on_event, ordered_consumer=True, config=config
    )
    progress_sub = await gw.nc.subscribe(subjects.user_progress(user.id), cb=on_progress)
    try:
        yield "retry: 2000\n\n"
        while not (overflowed.is_set() or await request.is_disconnected()):
            try:
                frame, msg = await asyncio.wait_for(queue.get(), gw.settings.sse_heartbeat_seconds)
            except TimeoutError:
                frame, msg = ": heartbeat\n\n", None
            if msg is not None:  # an event from the log: tell it once the tables show it
                await gw.watermarks.shown(
                    msg.subject,
                    msg.metadata.sequence.stream,
                    gw.settings.sse_projection_wait_seconds,
                )
            yield frame
    finally:
        await log_sub.unsubscribe()
        await progress_sub.unsubscribe()


async def _log_frame(gw: Gateway, msg: Msg) -> str:
    sequence = msg.metadata.sequence.stream
    try:
        event = decode_event(msg.subject, msg.data)
    except UndecodableEvent:
        return f"id: {sequence}\n: an event this gateway cannot read was skipped\n\n"
    with tracing.process_span(
        event.type, msg.subject, msg.headers, group="sse", operation="deliver"
    ):
        return await _frame(gw, event, msg.data, sequence)


async def _frame(gw: Gateway, event, data: bytes, sequence: int) -> str:
    body = json.loads(data)
    if isinstance(event, GenerationCompleted):
        body["assets"] = [
            {
                "id": str(generated_asset_id(event.data.job_id, asset.index)),
                "index": asset.index,
                "thumbnail_url": await gw.objects.presign_get(
                    storage.WORKSPACE_BUCKET,
                    asset.thumbnail_key,
                    gw.settings.thumbnail_url_seconds,
                ),
            }
            for asset in event.data.assets
        ]
    return f"id: {sequence}\nevent: {event.type}\ndata: {json.dumps(body)}\n\n"
