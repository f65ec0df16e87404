"""`/v1/events`: Server-Sent Events for the authenticated user.

Everything that happens to the user's jobs, workspace and library arrives as it is
appended to the log (once the workspace and library tables show it, so that a client
reading them next sees the change), each with its stream sequence as the event id: a
client that reconnects with `Last-Event-ID` gets exactly what it missed, replayed from
the log, and nothing twice (`atelier.gateway.live_events`). Step progress (with small
previews) comes from core NATS, without an id: it is ephemeral. Comment lines keep idle
connections open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from atelier.gateway.auth import User
from atelier.gateway.bootstrap import Gateway
from atelier.gateway.entrypoints.dependencies import BearerDep, GatewayDep, access_token_query
from atelier.gateway.event_frames import Frame
from atelier.gateway.problems import responses

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
    after = _resume_after(last_event_id)
    body = _stream(request, gw, user, after)
    first = await anext(body)  # following the log before the response starts
    return StreamingResponse(
        _chain(first, body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, gw: Gateway, user: User, after: int | None
) -> AsyncIterator[str]:
    stream = await gw.live.open(user.id)
    try:
        yield "retry: 2000\n\n"
        last = after
        if after is not None:
            async with contextlib.aclosing(gw.live.replay(user.id, after)) as missed:
                async for frame in missed:
                    yield await _shown(gw, frame)
                    last = frame.sequence
        while not (stream.overflowed or await request.is_disconnected()):
            try:
                frame = await asyncio.wait_for(
                    stream.frames.get(), gw.settings.sse_heartbeat_seconds
                )
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if frame.sequence is not None:
                if last is not None and frame.sequence <= last:
                    continue  # replayed already
                last = frame.sequence
            yield await _shown(gw, frame)
    finally:
        await gw.live.close(stream)


def _resume_after(last_event_id: str | None) -> int | None:
    """The stream sequence to resume after; None (follow from now) for anything that is
    not one (a stream sequence is an unsigned 64-bit number)."""
    if not last_event_id or not (last_event_id.isascii() and last_event_id.isdigit()):
        return None
    after = int(last_event_id)
    return after if after < 2**64 - 1 else None


async def _shown(gw: Gateway, frame: Frame) -> str:
    """The frame, once the workspace and library tables show its event (if it is one)."""
    if frame.subject is not None and frame.sequence is not None:
        await gw.watermarks.shown(
            frame.subject, frame.sequence, gw.settings.sse_projection_wait_seconds
        )
    return frame.text


async def _chain(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk
