"""The projection runner against real NATS and PostgreSQL: exactly once, by construction."""

import asyncio
import uuid

import asyncpg
import pytest

from atelier.contracts import examples, subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.streams import DEAD_LETTERS
from atelier.runtime.bus import EventBus
from atelier.runtime.dead_letters import REASON
from atelier.runtime.projection import ProjectionRunner

pytestmark = pytest.mark.integration


class CountingProjection:
    """Counts how often each event was applied; can be told to crash on one event."""

    name = "counting"
    subjects = (subjects.generation_events("completed"),)

    def __init__(self) -> None:
        self.crash_on: uuid.UUID | None = None

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS applied (event_id uuid PRIMARY KEY, times int NOT NULL)"
        )

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        await conn.execute(
            "INSERT INTO applied VALUES ($1, 1) "
            "ON CONFLICT (event_id) DO UPDATE SET times = applied.times + 1",
            event.event_id,
        )
        if event.event_id == self.crash_on:
            raise RuntimeError("crash in the middle of a batch")


@pytest.fixture
async def pool(servers):
    pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def schema() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


async def applied(pool, schema) -> dict[uuid.UUID, int]:
    rows = await pool.fetch(f"SELECT event_id, times FROM {schema}.applied")
    return {row["event_id"]: row["times"] for row in rows}


async def run_until(runner: ProjectionRunner, position: int) -> None:
    await runner.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    async with asyncio.timeout(20):
        while await runner.position() < position:
            await asyncio.sleep(0.05)
    stop.set()
    await task


async def test_a_crash_mid_batch_applies_nothing_and_a_restart_applies_everything_once(
    private_nc, pool, schema
):
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(5)]
    last = 0
    for event in events:
        last = await bus.publish(event)

    projection = CountingProjection()
    projection.crash_on = events[3].event_id
    runner = ProjectionRunner(js=bus.js, pool=pool, projection=projection, schema=schema)
    await runner.prepare()
    sub = await bus.js.pull_subscribe(
        subjects.generation_events("completed"), stream="ATELIER_EVENTS"
    )
    batch = await sub.fetch(5, timeout=2)
    with pytest.raises(RuntimeError, match="crash"):
        await runner.apply_batch(batch)
    assert await applied(pool, schema) == {}, "the failed batch left rows behind"
    assert await runner.position() == 0

    projection.crash_on = None
    await runner.apply_batch(batch[:2])
    await runner.apply_batch(batch)  # a redelivery overlapping what was applied
    await run_until(runner, last)  # and a restart reading the log from the stored position
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}
    assert await runner.position() == last


async def test_two_replicas_share_the_work_without_doubling(private_nc, pool, schema):
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(40)]
    stop = asyncio.Event()
    runners = [
        ProjectionRunner(
            js=bus.js, pool=pool, projection=CountingProjection(), schema=schema, batch_size=7
        )
        for _ in range(2)
    ]
    await runners[0].prepare()
    tasks = [asyncio.create_task(runner.run(stop)) for runner in runners]
    last = 0
    for event in events:
        last = await bus.publish(event)
    async with asyncio.timeout(20):
        while await runners[0].position() < last:
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}


async def test_a_poison_event_is_dead_lettered_and_skipped(private_nc, pool, schema):
    bus = EventBus(private_nc)
    good = examples.completed()
    poison = examples.completed()
    await bus.js.publish(poison.subject, b'{"type": "generation.completed", "oops": 1}')
    last = await bus.publish(good)

    runner = ProjectionRunner(js=bus.js, pool=pool, projection=CountingProjection(), schema=schema)
    await run_until(runner, last)
    assert await applied(pool, schema) == {good.event_id: 1}

    dead = await bus.js.get_last_msg(DEAD_LETTERS.name, subjects.dead_letter("counting"))
    assert dead.headers[REASON]
    assert dead.data == b'{"type": "generation.completed", "oops": 1}'


async def test_rebuild_stops_at_the_end_of_the_log(private_nc, pool, schema):
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(10)]
    for event in events:
        await bus.publish(event)
    await bus.publish(examples.requested())  # not one the projection reads

    runner = ProjectionRunner(js=bus.js, pool=pool, projection=CountingProjection(), schema=schema)
    async with asyncio.timeout(20):
        await runner.run(asyncio.Event(), until_caught_up=True)
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}


async def test_catch_up_in_applies_what_arrived_after_the_shadow_caught_up(
    private_nc, pool, schema
):
    """The rebuild's swap: the shadow is brought to the live position inside the caller's
    transaction, however far behind it is, and no further."""
    bus = EventBus(private_nc)
    early = [examples.completed() for _ in range(3)]
    for event in early:
        await bus.publish(event)
    runner = ProjectionRunner(js=bus.js, pool=pool, projection=CountingProjection(), schema=schema)
    await runner.run(asyncio.Event(), until_caught_up=True)
    late = [examples.completed() for _ in range(4)]
    sequences = [await bus.publish(event) for event in late]

    async with pool.acquire() as conn, conn.transaction():
        position = await runner.catch_up_in(conn, sequences[2])

    assert position == sequences[2]
    assert await applied(pool, schema) == {event.event_id: 1 for event in early + late[:3]}
    assert await runner.position() == sequences[2]
