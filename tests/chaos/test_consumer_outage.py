"""A reactor's or worker's consumer loop outlives nats-server dying under it: the message
it was handling when the server went comes back and is handled, and so is the next."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from atelier.contracts import examples, subjects
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Delivery, WorkConsumer, ensure_consumer
from tests.helpers import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


async def test_the_consumer_loop_outlives_a_nats_restart_mid_message(private_nats, private_nc):
    config = ConsumerConfig(
        durable_name="work",
        filter_subject=subjects.generation_events("requested"),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=2.0,
    )
    await ensure_consumer(private_nc.jetstream(), EVENTS.name, config)
    handled: list = []

    async def handle(delivery: Delivery) -> None:
        handled.append(delivery.event.event_id)
        if len(handled) == 1:  # the server dies before this message is acknowledged
            await asyncio.to_thread(private_nats.kill)
            await asyncio.sleep(2)
            await asyncio.to_thread(private_nats.start)

    work = WorkConsumer(
        js=private_nc.jetstream(), stream=EVENTS.name, durable="work", handle=handle,
        fetch_timeout=0.2,
    )  # fmt: skip
    first, second = examples.requested(), examples.requested()
    bus = EventBus(private_nc)
    await bus.publish(first)
    stop = asyncio.Event()
    running = asyncio.create_task(work.run(stop))

    async def alive_and(condition) -> bool:
        if running.done():
            running.result()  # raises what the loop died of
            raise AssertionError("the consumer loop returned while NATS was away")
        return condition()

    try:
        await eventually(lambda: alive_and(lambda: private_nc.is_connected and handled), timeout=30)
        await bus.publish(second)
        await eventually(lambda: alive_and(lambda: second.event_id in handled), timeout=60)
    finally:
        stop.set()
        await running
    assert set(handled) == {first.event_id, second.event_id}
