"""The work consumer loop against a real JetStream: ack, retry, dead-letter, heartbeat."""

import asyncio

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from atelier.contracts import examples, subjects
from atelier.contracts.streams import DEAD_LETTERS, EVENTS
from atelier.runtime import metrics
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Delivery, Reject, Retry, WorkConsumer, ensure_consumer
from atelier.runtime.dead_letters import ORIGINAL_SUBJECT, REASON, WHY

pytestmark = pytest.mark.integration


async def consumer(nc, handle, *, ack_wait: float = 30.0, heartbeat: float = 10.0):
    config = ConsumerConfig(
        durable_name="work",
        filter_subject=subjects.generation_events("requested"),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
    )
    await ensure_consumer(nc.jetstream(), EVENTS.name, config)
    return WorkConsumer(
        js=nc.jetstream(),
        stream=EVENTS.name,
        durable="work",
        handle=handle,
        heartbeat_seconds=heartbeat,
        fetch_timeout=0.2,
    )


async def run_while(work: WorkConsumer, condition, timeout: float = 15.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(work.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def pending(nc) -> tuple[int, int]:
    info = await nc.jetstream().consumer_info(EVENTS.name, "work")
    return info.num_pending, info.num_ack_pending


async def test_handled_messages_are_acknowledged_once(private_nc):
    seen = []

    async def handle(delivery: Delivery) -> None:
        seen.append((delivery.event.event_id, delivery.attempt))

    events = [examples.requested() for _ in range(3)]
    for event in events:
        await EventBus(private_nc).publish(event)
    work = await consumer(private_nc, handle)
    await run_while(work, lambda: len(seen) == 3)
    assert seen == [(event.event_id, 1) for event in events]
    assert await pending(private_nc) == (0, 0)


async def test_a_retry_comes_back_after_its_delay(private_nc):
    attempts = []

    async def handle(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise Retry("not yet", delay=0.2)

    await EventBus(private_nc).publish(examples.requested())
    work = await consumer(private_nc, handle)
    await run_while(work, lambda: attempts == [1, 2, 3])
    assert await pending(private_nc) == (0, 0)


async def test_an_unexpected_error_is_retried_not_lost(private_nc):
    attempts = []

    async def handle(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt == 1:
            raise ConnectionError("S3 hiccup")

    await EventBus(private_nc).publish(examples.requested())
    work = await consumer(private_nc, handle)
    work.backoff = (0.2,)
    await run_while(work, lambda: attempts == [1, 2])


async def test_rejected_and_undecodable_messages_go_to_the_dead_letter_stream(private_nc):
    handled = []

    async def handle(delivery: Delivery) -> None:
        handled.append(delivery.event.event_id)
        raise Reject("reference image not found")

    rejected = examples.requested()
    await EventBus(private_nc).publish(rejected)
    garbage_subject = examples.requested().subject
    await private_nc.jetstream().publish(garbage_subject, b"not json at all")
    work = await consumer(private_nc, handle)

    dead = []

    async def collect(msg):
        dead.append(msg)

    sub = await private_nc.jetstream().subscribe(
        subjects.dead_letter("work"), stream=DEAD_LETTERS.name, cb=collect
    )
    await run_while(work, lambda: len(dead) == 2)
    await sub.unsubscribe()
    reasons = {msg.headers[ORIGINAL_SUBJECT]: msg.headers[REASON] for msg in dead}
    assert reasons[rejected.subject] == "reference image not found"
    assert "payload" in reasons[garbage_subject] or "JSON" in reasons[garbage_subject]
    assert handled == [rejected.event_id]
    assert await pending(private_nc) == (0, 0), "poison must be terminated, not redelivered"


async def test_heartbeats_keep_a_long_job_from_being_redelivered(private_nc):
    deliveries = []

    async def slow(delivery: Delivery) -> None:
        deliveries.append(delivery.attempt)
        await asyncio.sleep(3.5)  # longer than ack_wait: only heartbeats keep it ours

    await EventBus(private_nc).publish(examples.requested())
    work = await consumer(private_nc, slow, ack_wait=1.5, heartbeat=0.4)
    second = await consumer(private_nc, slow, ack_wait=1.5, heartbeat=0.4)  # a competing replica
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in (work, second)]
    await asyncio.sleep(5)
    stop.set()
    await asyncio.gather(*tasks)
    assert deliveries == [1]
    assert await pending(private_nc) == (0, 0)


WAITING = "the library has not stored its copy yet"


async def test_a_message_that_keeps_failing_is_dead_lettered_after_its_attempts(private_nc):
    attempts = []

    async def handle(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        raise Retry(WAITING)

    before = metrics.DEAD_LETTERS_TOTAL.labels("work", "gave_up")._value.get()
    event = examples.requested()
    await EventBus(private_nc).publish(event)
    work = await consumer(private_nc, handle)
    work.backoff, work.max_attempts = (0.1,), 3
    await run_while(work, lambda: len(attempts) == 3)
    await asyncio.sleep(0.5)  # time for a fourth delivery, were there one
    assert attempts == [1, 2, 3]
    assert await pending(private_nc) == (0, 0)
    js = private_nc.jetstream()
    dead = await js.get_last_msg(DEAD_LETTERS.name, subjects.dead_letter("work"))
    assert dead.headers[WHY] == "gave_up"
    assert dead.headers[REASON] == f"gave up after 3 attempts: {WAITING}"
    assert metrics.DEAD_LETTERS_TOTAL.labels("work", "gave_up")._value.get() == before + 1


async def test_failed_acks_and_heartbeats_never_end_the_loop(private_nc, monkeypatch):
    """The server is unreachable for a moment: the ack (and a heartbeat) fail. The message
    comes back after its ack wait to an idempotent handler, and the loop goes on."""
    seen = []

    async def handle(delivery: Delivery) -> None:
        seen.append((delivery.event.event_id, delivery.attempt))
        await asyncio.sleep(0.5)  # a heartbeat or two

    ack, beats = Msg.ack_sync, []

    async def failing_ack(self, *args, **kwargs):
        if len(seen) == 1:
            raise nats.errors.TimeoutError
        return await ack(self, *args, **kwargs)

    async def failing_heartbeat(self):
        beats.append(1)
        raise nats.errors.ConnectionReconnectingError

    monkeypatch.setattr(Msg, "ack_sync", failing_ack)
    monkeypatch.setattr(Msg, "in_progress", failing_heartbeat)
    first, second = examples.requested(), examples.requested()
    await EventBus(private_nc).publish(first)
    work = await consumer(private_nc, handle, ack_wait=1.5, heartbeat=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(work.run(stop))
    try:
        async with asyncio.timeout(15):
            while len(seen) < 2:
                await asyncio.sleep(0.05)
            await EventBus(private_nc).publish(second)
            while len(seen) < 3:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert seen == [(first.event_id, 1), (first.event_id, 2), (second.event_id, 1)]
    assert beats, "no heartbeat was tried"
    assert await pending(private_nc) == (0, 0)


async def test_a_consumer_deleted_under_the_loop_is_created_again(private_nc):
    seen = []

    async def handle(delivery: Delivery) -> None:
        seen.append(delivery.event.event_id)

    work = await consumer(private_nc, handle)
    work.config = ConsumerConfig(
        durable_name="work",
        filter_subject=subjects.generation_events("requested"),
        ack_policy=AckPolicy.EXPLICIT,
    )
    work.backoff = (0.1,)
    stop = asyncio.Event()
    task = asyncio.create_task(work.run(stop))
    try:
        await asyncio.sleep(0.5)
        await private_nc.jetstream().delete_consumer(EVENTS.name, "work")
        event = examples.requested()
        await EventBus(private_nc).publish(event)
        async with asyncio.timeout(15):
            while seen != [event.event_id]:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_reactors_handle_several_messages_at_once(private_nc):
    running, most = 0, 0

    async def handle(delivery: Delivery) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.3)
        running -= 1

    for _ in range(8):
        await EventBus(private_nc).publish(examples.requested())
    work = await consumer(private_nc, handle)
    work.concurrency = 4
    await run_while(work, lambda: most == 4)
    await asyncio.sleep(1)
    assert most == 4
