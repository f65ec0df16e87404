"""The consumer loop for work that must happen once per event: GPU jobs and reactors.

Pull from a durable consumer (competing replicas share it), decode, handle, and only
then acknowledge. A handler signals what went wrong by the exception it raises:

- `Retry`: a transient failure; the message is nak'ed with a delay and comes back.
- `Reject` (or a message that does not decode): poison; it goes to the dead-letter
  stream with the reason and is terminated, so it never blocks the others.
- anything else: treated as transient, logged with its traceback, retried with backoff.

While a handler runs, `in_progress` heartbeats keep JetStream from redelivering a live
job; a process that dies stops heartbeating and the job goes to another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from nats.js.client import JetStreamContext
from opentelemetry.trace import Span, StatusCode

from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.runtime import tracing
from atelier.runtime.dead_letters import dead_letter

log = logging.getLogger(__name__)


class Retry(Exception):
    def __init__(self, reason: str, delay: float = 2.0) -> None:
        super().__init__(reason)
        self.delay = delay


class Reject(Exception):
    """The message can never be processed; dead-letter it."""


@dataclass(frozen=True)
class Delivery:
    event: Envelope
    msg: Msg

    @property
    def attempt(self) -> int:
        return self.msg.metadata.num_delivered

    @property
    def sequence(self) -> int:
        return self.msg.metadata.sequence.stream


Handler = Callable[[Delivery], Awaitable[None]]


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create the durable consumer, or update its configuration; idempotent."""
    await js.add_consumer(stream, config)


@dataclass
class WorkConsumer:
    js: JetStreamContext
    stream: str
    durable: str
    handle: Handler
    heartbeat_seconds: float = 10.0
    fetch_timeout: float = 1.0
    #: Delays between retries of a failing message, by attempt (the last one repeats).
    backoff: tuple[float, ...] = (1.0, 5.0, 15.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Process messages one at a time until `stop` is set; finish the current one."""
        sub = await self.js.pull_subscribe_bind(self.durable, stream=self.stream)
        try:
            while not stop.is_set():
                try:
                    messages = await sub.fetch(1, timeout=self.fetch_timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except nats.errors.ConnectionClosedError:
                    return
                for msg in messages:
                    await self._process(msg)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _process(self, msg: Msg) -> None:
        try:
            event = decode_event(msg.subject, msg.data)
        except UndecodableEvent as error:
            await dead_letter(self.js, self.durable, msg, str(error))
            await msg.term()
            return
        with tracing.process_span(
            event.type,
            msg.subject,
            msg.headers,
            group=self.durable,
            **{
                "messaging.message.id": event.dedup_id,
                "atelier.attempt": msg.metadata.num_delivered,
            },
        ) as span:
            await self._handle(Delivery(event, msg), span)

    async def _handle(self, delivery: Delivery, span: Span) -> None:
        msg = delivery.msg
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        try:
            await self.handle(delivery)
        except Reject as error:
            _failed(span, error)
            await dead_letter(self.js, self.durable, msg, str(error))
            await msg.term()
        except Retry as error:
            _failed(span, error)
            log.warning("retrying", extra={"reason": str(error), "subject": msg.subject})
            await msg.nak(delay=error.delay)
        except Exception as error:
            _failed(span, error)
            delay = self.backoff[min(msg.metadata.num_delivered, len(self.backoff)) - 1]
            log.exception("handler failed; will retry", extra={"subject": msg.subject})
            await msg.nak(delay=delay)
        else:
            await msg.ack_sync()
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await msg.in_progress()


def _failed(span: Span, error: Exception) -> None:
    span.record_exception(error)
    span.set_status(StatusCode.ERROR, str(error))
