"""The pull reader against a real nats-server: batches in order, an idle wait that ends
with the next event, and a consumer that goes with the reader."""

import asyncio

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atelier.contracts.streams import EVENTS
from atelier.runtime.log_reader import LogReader


def config(start: int = 1) -> ConsumerConfig:
    return ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start,
        ack_policy=AckPolicy.NONE,
        filter_subjects=["atelier.user.*.t.>"],
        mem_storage=True,
    )


async def publish(js, count: int, user: str = "u1") -> None:
    for n in range(count):
        await js.publish(f"atelier.user.{user}.t.{n}.e", str(n).encode())


async def test_batches_come_in_order_with_their_sequences(private_nc):
    js = private_nc.jetstream()
    await js.publish("atelier.user.u1.other.x.e", b"not ours")  # outside the filter
    await publish(js, 25)
    reader = LogReader(js, EVENTS.name)
    await reader.open(config())
    try:
        batches = [await reader.next_batch(10, idle_wait=0.2) for _ in range(3)]
        assert [len(batch) for batch in batches] == [10, 10, 5]
        read = [msg for batch in batches for msg in batch]
        assert [msg.data for msg in read] == [str(n).encode() for n in range(25)]
        assert [msg.sequence for msg in read] == list(range(2, 27))
        assert [msg.delivery for msg in read] == list(range(1, 26))
        assert [msg.pending for msg in read] == list(range(24, -1, -1))
        assert await reader.delivered() == 25
        assert await reader.next_batch(10, idle_wait=0.2) == []  # idle
    finally:
        await reader.close()
    assert await js.consumers_info(EVENTS.name) == [], "the reader's consumer outlived it"


async def test_an_idle_wait_ends_with_the_event_published_during_it(private_nc):
    js = private_nc.jetstream()
    reader = LogReader(js, EVENTS.name)
    await reader.open(config())
    try:
        waiting = asyncio.create_task(reader.next_batch(100, idle_wait=30))
        await asyncio.sleep(0.2)
        await publish(js, 3)
        async with asyncio.timeout(10):  # far less than the 30 s the request may wait
            batch = await waiting
        assert [msg.data for msg in batch][:1] == [b"0"]
        rest = batch[1:] + await reader.next_batch(100, idle_wait=0.2)
        assert [msg.data for msg in rest] == [b"1", b"2"]
    finally:
        await reader.close()
