"""Two scheduler replicas that both believe they hold the lease (one lost it and has not
noticed yet), on a real NATS whose duplicate window is cut to 0.1 s (as if the race came
after the dedup window): each job is still dispatched exactly once, because every dispatch
expects the job's last sequence on its subjects."""

import asyncio
import uuid

import pytest

from atelier.contracts import examples, subjects
from atelier.contracts.scheduling import DEFAULT_TIER, DEFAULT_TIERS, WorkerCapacity
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import EventBus
from atelier.scheduler.capacity import Capacity
from atelier.scheduler.dispatcher import Dispatcher

pytestmark = pytest.mark.integration


async def test_two_replicas_racing_dispatch_each_job_once(private_nc):
    bus = EventBus(private_nc)
    config = (await bus.js.stream_info(EVENTS.name)).config
    config.duplicate_window = 0.1  # the message ids no longer catch a second dispatch
    await bus.js.update_stream(config)
    users = [uuid.uuid4() for _ in range(5)]
    requests = [examples.requested(users[n % 5], steps=2) for n in range(40)]
    for request in requests:
        await bus.publish(request)
    active = False  # both follow the log first, then both decide at the same moment
    replicas = []
    for name in ("one", "two"):
        capacity = Capacity()
        capacity.heard(WorkerCapacity(worker=name, model="sdxl", slots=64))
        replicas.append(
            Dispatcher(bus, capacity, DEFAULT_TIERS, DEFAULT_TIER, lambda: active, idle_wait=0.1)
        )
    stop = asyncio.Event()
    running = [asyncio.create_task(replica.run(stop)) for replica in replicas]
    try:
        async with asyncio.timeout(30):
            for replica in replicas:
                await replica.caught_up.wait()
        active = True
        # the second decides on what it has read, then stalls past the dedup window while
        # the first appends its dispatches; then it appends its own, stale ones
        stale = replicas[1].state.decide(replicas[1].capacity.all_slots())
        assert len(stale) == len(requests)
        await replicas[0].decide()
        await asyncio.sleep(0.3)
        await replicas[1].act(stale)

        async def all_dispatched() -> bool:
            info = await bus.js.stream_info(
                EVENTS.name, subjects_filter=subjects.generation_events("dispatched")
            )
            return sum((info.state.subjects or {}).values()) >= len(requests)

        async with asyncio.timeout(30):
            while not await all_dispatched():
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let any second dispatch land, if one could
    finally:
        stop.set()
        await asyncio.gather(*running, return_exceptions=True)
    info = await bus.js.stream_info(
        EVENTS.name, subjects_filter=subjects.generation_events("dispatched")
    )
    counts = info.state.subjects or {}
    assert len(counts) == len(requests)
    assert set(counts.values()) == {1}
