"""The consumer loop for work that must happen once per event: GPU jobs and reactors.

Pull from a durable consumer (competing replicas share it), decode, handle, and only
then acknowledge. A handler signals what went wrong by the exception it raises:

- `Retry`: a transient failure; the message is nak'ed with a delay and comes back.
- `Reject` (or a message that does not decode): poison; it goes to the dead-letter
  stream with the reason and is terminated, so it never blocks the others.
- anything else: treated as transient, logged with its traceback, retried with backoff.

Retries are bounded: a message that fails `max_attempts` times is dead-lettered with its
last error (`gave_up`) instead of coming back forever. Nothing ends the loop but `stop`
(or a closed connection): a failed ack, nak, term, dead-letter or heartbeat is logged and
the message comes back after its ack wait, to handlers that are idempotent.

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
from nats.js.errors import NotFoundError
from opentelemetry.trace import Span, StatusCode

from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.runtime import tracing
from atelier.runtime.dead_letters import dead_letter
from atelier.runtime.metrics import RETRIES

log = logging.getLogger(__name__)

#: How often a consumer whose handler takes nothing now asks again.
_NOT_READY_SECONDS = 0.01


class Retry(Exception):
    """Try again later: after `delay` seconds, or the consumer's backoff when None."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
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
    backoff: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
    #: Deliveries of one message before it is dead-lettered; None: retried forever.
    max_attempts: int | None = 30
    #: Messages handled at once (a GPU worker: one; reactors: a few).
    concurrency: int = 1
    #: The durable's configuration, to create it again if it disappears.
    config: ConsumerConfig | None = None
    #: Whether the handler takes more messages now (None: whenever it has room): a GPU
    #: worker takes none while its device is busy, so what it could not start stays on
    #: the stream for an idle replica.
    may_fetch: Callable[[], bool] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Process messages until `stop` is set; finish the ones in hand."""
        sub = None
        busy: set[asyncio.Task] = set()
        failures = 0
        try:
            while not stop.is_set():
                if len(busy) >= self.concurrency:
                    await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if self.may_fetch is not None and not self.may_fetch():
                    await asyncio.sleep(_NOT_READY_SECONDS)
                    continue
                try:
                    if sub is None:
                        sub = await self._bind()
                    messages = await sub.fetch(self.concurrency - len(busy), self.fetch_timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    failures = 0
                    continue
                except nats.errors.ConnectionClosedError:
                    return
                except Exception as error:  # reconnecting, the consumer gone, …: bind again
                    failures += 1
                    log.warning(
                        "fetching failed; binding again",
                        extra={"consumer": self.durable, "error": repr(error)},
                    )
                    sub = await _unsubscribed(sub)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._delay(failures))
                    continue
                failures = 0
                for msg in messages:
                    task = asyncio.create_task(self._process_safely(msg))
                    busy.add(task)
                    task.add_done_callback(busy.discard)
        finally:
            if busy:
                await asyncio.gather(*busy, return_exceptions=True)
            await _unsubscribed(sub)

    async def _bind(self):
        """Bind to the durable, creating it first if it has gone (deleted by hand)."""
        if self.config is not None:
            try:
                await self.js.consumer_info(self.stream, self.durable)
            except NotFoundError:
                await ensure_consumer(self.js, self.stream, self.config)
        return await self.js.pull_subscribe_bind(self.durable, stream=self.stream)

    async def _process_safely(self, msg: Msg) -> None:
        """Process one message; whatever fails here, the loop goes on (the message comes
        back after its ack wait if it was not settled)."""
        try:
            await self._process(msg)
        except Exception:
            log.exception(
                "message not settled; it will come back",
                extra={"consumer": self.durable, "subject": msg.subject},
            )

    async def _process(self, msg: Msg) -> None:
        try:
            event = decode_event(msg.subject, msg.data)
        except UndecodableEvent as error:
            await dead_letter(self.js, self.durable, msg, str(error), "undecodable")
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
            await dead_letter(self.js, self.durable, msg, str(error), "rejected")
            await msg.term()
        except Exception as error:
            _failed(span, error)
            await self._again(delivery, error)
        else:
            await msg.ack_sync()
        finally:
            heartbeat.cancel()

    async def _again(self, delivery: Delivery, error: Exception) -> None:
        """Hand a failed message back for a later attempt, or give up on it."""
        msg, attempt = delivery.msg, delivery.attempt
        if self.max_attempts is not None and attempt >= self.max_attempts:
            reason = f"gave up after {attempt} attempts: {error}"
            await dead_letter(self.js, self.durable, msg, reason, "gave_up")
            await msg.term()
            return
        RETRIES.labels(self.durable).inc()
        if isinstance(error, Retry):
            log.warning("retrying", extra={"reason": str(error), "subject": msg.subject})
            delay = error.delay if error.delay is not None else self._delay(attempt)
        else:
            log.error(
                "handler failed; will retry",
                extra={"subject": msg.subject, "attempt": attempt},
                exc_info=error,
            )
            delay = self._delay(attempt)
        await msg.nak(delay=delay)

    def _delay(self, attempt: int) -> float:
        return self.backoff[min(max(attempt, 1), len(self.backoff)) - 1]

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await msg.in_progress()
            except Exception as error:  # the next beat may get through; never end the job
                log.warning("heartbeat failed", extra={"error": repr(error)})


async def _unsubscribed(sub) -> None:
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def _failed(span: Span, error: Exception) -> None:
    span.record_exception(error)
    span.set_status(StatusCode.ERROR, str(error))
