"""Request/reply over core NATS between the gateway and the services that own state.

Replies are JSON envelopes: ``{"ok":true,"result":…}`` or
``{"ok": false, "error": {"status": 404, "title": …, "detail": …}}``; the gateway turns
the latter into problem+json. Services subscribe in a queue group, so replicas share
the load.

A result is written by pydantic after a fixed prefix, so `call_json` can hand its bytes
on as they came (the gateway answers a listing with them) without decoding the JSON and
encoding it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, ValidationError

from atelier.runtime import tracing
from atelier.runtime.db import CONNECTION_ERRORS

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res", bound=BaseModel)
Handler = Callable[[Any], Awaitable[BaseModel]]


class RpcError(Exception):
    """A refusal with an HTTP-like status, carried back to the caller."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


async def serve(
    nc: NatsClient,
    subject: str,
    request_model: type[Req],
    handler: Callable[[Req], Awaitable[Res]],
    *,
    queue: str,
    concurrency: int = 64,
) -> Subscription:
    """Answer requests on `subject`, up to `concurrency` at a time in this process."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()

    async def on_message(msg: Msg) -> None:
        await slots.acquire()  # back-pressure: NATS buffers the rest for us
        task = asyncio.create_task(on_request(msg))
        running.add(task)
        task.add_done_callback(lambda done: (running.discard(done), slots.release()))

    async def on_request(msg: Msg) -> None:
        with tracing.rpc_server_span(subject, msg.headers) as span:
            try:
                request = request_model.model_validate_json(msg.data)
                result = await handler(request)
                reply = b"".join((_OK, result.model_dump_json().encode(), b"}"))
            except ValidationError as error:
                reply = _error(400, "Invalid request", str(error.errors()[0]["msg"]))
            except RpcError as error:
                reply = _error(error.status, error.title, error.detail)
            except CONNECTION_ERRORS as error:  # its database restarts: the caller may retry
                log.warning("rpc handler without its database", extra={"error": repr(error)})
                reply = _error(503, "Service unavailable", "the service's database is away")
            except Exception as error:
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, repr(error))
                log.exception("rpc handler failed", extra={"subject": subject})
                reply = _error(500, "Internal error", "the service failed; see its logs")
            await msg.respond(reply)

    return await nc.subscribe(subject, queue=queue, cb=on_message)


async def call(
    nc: NatsClient,
    subject: str,
    request: BaseModel,
    response_model: type[Res],
    *,
    timeout: float = 5.0,
) -> Res:
    """The service's answer as `response_model`; RpcError for its refusal."""
    return response_model.model_validate_json(
        await call_json(nc, subject, request, timeout=timeout)
    )


async def call_json(
    nc: NatsClient, subject: str, request: BaseModel, *, timeout: float = 5.0
) -> bytes:
    """The service's answer as the JSON it wrote; RpcError for its refusal."""
    with tracing.rpc_client_span(subject) as headers:
        try:
            msg = await nc.request(
                subject, request.model_dump_json().encode(), timeout=timeout, headers=headers
            )
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as error:
            raise RpcError(503, "Service unavailable", f"no answer on {subject}") from error
    if msg.data.startswith(_OK) and msg.data.endswith(b"}"):
        return msg.data[len(_OK) : -1]
    body = json.loads(msg.data)
    if body["ok"]:  # written otherwise (a replica of an older release, during a rollout)
        return json.dumps(body["result"]).encode()
    error = body["error"]
    raise RpcError(error["status"], error["title"], error["detail"])


#: What a reply with a result starts with (the result follows, then the closing brace).
_OK = b'{"ok":true,"result":'


def _error(status: int, title: str, detail: str) -> bytes:
    error = {"status": status, "title": title, "detail": detail}
    return json.dumps({"ok": False, "error": error}).encode()
