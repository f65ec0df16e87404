"""The projection runner against real NATS and PostgreSQL: exactly once, by construction."""

import asyncio
import contextlib
import random
import uuid

import asyncpg
import pytest
from nats.js.client import JetStreamContext

from atelier.contracts import examples, subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.partitions import PARTITIONS
from atelier.contracts.streams import DEAD_LETTERS
from atelier.runtime import metrics
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.dead_letters import ORIGINAL_SUBJECT, REASON, WHY
from atelier.runtime.health import projection_check
from atelier.runtime.log_reader import LogMessage
from atelier.runtime.projection import ProjectionRunner
from atelier.runtime.rebuild import rebuild
from atelier.runtime.rebuild_processes import RebuildProcesses
from atelier.runtime.writes import Writes
from atelier.stack.servers.proxy import CuttingProxy
from libs.runtime.tests.integration.counting import (
    CountingProjection,
    applied,
    caught_up,
    counting_runner,
)

pytestmark = pytest.mark.integration


async def run_until(runner: ProjectionRunner, position: int) -> None:
    await runner.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await caught_up(runner, position)
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
    batch = [LogMessage.of(msg) for msg in await sub.fetch(5, timeout=2)]
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
    runners = [counting_runner(bus, pool, schema, batch_size=7) for _ in range(2)]
    await runners[0].prepare()
    tasks = [asyncio.create_task(runner.run(stop)) for runner in runners]
    last = 0
    for event in events:
        last = await bus.publish(event)
    await caught_up(runners[0], last)
    stop.set()
    await asyncio.gather(*tasks)
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}


async def test_a_poison_event_is_dead_lettered_and_skipped(private_nc, pool, schema):
    bus = EventBus(private_nc)
    good = examples.completed()
    poison = examples.completed()
    await bus.js.publish(poison.subject, b'{"type": "generation.completed", "oops": 1}')
    last = await bus.publish(good)

    runner = counting_runner(bus, pool, schema)
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

    runner = counting_runner(bus, pool, schema)
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
    runner = counting_runner(bus, pool, schema)
    await runner.run(asyncio.Event(), until_caught_up=True)
    late = [examples.completed() for _ in range(4)]
    sequences = [await bus.publish(event) for event in late]

    async with pool.acquire() as conn, conn.transaction():
        await runner.catch_up_in(conn, dict.fromkeys(range(PARTITIONS), sequences[2]))

    assert await applied(pool, schema) == {event.event_id: 1 for event in early + late[:3]}
    assert await runner.position() == sequences[2]


async def test_a_rebuild_in_processes_applies_every_event_once_and_swaps(
    private_nats, private_nc, servers, pool, schema
):
    """Three processes fill the shadow side by side (each creating nothing: the tables are
    made once, before them), then the swap brings in exactly what the live log holds."""
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(300)]  # 300 users over 16 partitions
    for event in events:
        await bus.publish(event)
    live = counting_runner(bus, pool, schema)
    await live.run(asyncio.Event(), until_caught_up=True)

    processes = RebuildProcesses(private_nats.url, servers.database_url, count=3)
    async with asyncio.timeout(120):
        report = await rebuild(
            js=bus.js, pool=pool, projection=CountingProjection(), schema=schema,
            batch_size=64, processes=processes,
        )  # fmt: skip
    assert report.rows == {"applied": 300}
    assert report.processes_cpu_seconds > 0
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}


class FussyProjection:
    """Stores each event's worker id; the database refuses some of them, as it would a NUL
    in a text or a number out of range: events that decode but cannot be applied."""

    name = "fussy"
    subjects = (subjects.generation_events("completed"),)
    DDL = (
        "CREATE TABLE IF NOT EXISTS stored (event_id uuid PRIMARY KEY, worker text NOT NULL, "
        "images smallint NOT NULL, CHECK (worker <> 'refused'))"
    )

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        await conn.execute(self.DDL)

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        writes = Writes()
        self.write(event, writes)
        await writes.flush(conn)

    def write(self, event: Envelope, writes: Writes) -> None:
        worker = event.data.worker_id
        if worker == "nul":
            worker = "a\x00b"  # PostgreSQL: invalid byte sequence (22021)
        images = 10**6 if worker == "huge" else len(event.data.assets)  # asyncpg: out of range
        writes.add(
            "INSERT INTO stored VALUES ($1, $2, $3)",
            (event.event_id, worker, images),
            scope=event.user_id,
            keys=[event.event_id],
        )


def completed_by(worker: str) -> Envelope:
    event = examples.completed()
    return event.model_copy(update={"data": event.data.model_copy(update={"worker_id": worker})})


async def stored(pool, schema) -> dict[uuid.UUID, str]:
    rows = await pool.fetch(f"SELECT event_id, worker FROM {schema}.stored")
    return {row["event_id"]: row["worker"] for row in rows}


async def dead_letters(js, consumer: str) -> dict[str, dict[str, str]]:
    """The dead letters of `consumer`, by original subject: their headers."""
    info = await js.stream_info(DEAD_LETTERS.name)
    found = {}
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(DEAD_LETTERS.name, sequence)
        if msg.subject == subjects.dead_letter(consumer):
            found[msg.headers[ORIGINAL_SUBJECT]] = msg.headers
    return found


async def test_events_whose_data_the_database_refuses_are_dead_lettered_live_and_in_a_rebuild(
    private_nc, pool, schema
):
    """The NUL that once stopped the workspace for everyone: appended straight to the
    stream, as a compromised service could. The others' events keep flowing, the position
    moves past it, and a rebuild finds exactly the same tables."""
    bus = EventBus(private_nc)
    events = [completed_by(w) for w in ("ok-1", "nul", "ok-2", "refused", "huge", "ok-3")]
    last = 0
    for event in events:
        last = await bus.publish(event)
    refused = [e for e in events if not e.data.worker_id.startswith("ok")]
    dead_before = metrics.DEAD_LETTERS_TOTAL.labels("fussy", "unappliable")._value.get()

    runner = ProjectionRunner(js=bus.js, pool=pool, projection=FussyProjection(), schema=schema)
    await run_until(runner, last)
    wanted = {e.event_id: e.data.worker_id for e in events if e not in refused}
    assert await stored(pool, schema) == wanted
    assert await runner.position() == last

    dead = await dead_letters(bus.js, "fussy")
    assert set(dead) == {e.subject for e in refused}
    for event in refused:
        assert dead[event.subject][WHY] == "unappliable"
        assert "cannot be applied" in dead[event.subject][REASON]
    assert "CharacterNotInRepertoire" in dead[refused[0].subject][REASON]
    assert "CheckViolation" in dead[refused[1].subject][REASON]
    after = metrics.DEAD_LETTERS_TOTAL.labels("fussy", "unappliable")._value.get()
    assert after - dead_before == len(refused)

    shadow = f"{schema}_rebuilt"
    rebuilt = ProjectionRunner(
        js=bus.js, pool=pool, projection=FussyProjection(), schema=shadow, replay=True
    )
    await rebuilt.run(asyncio.Event(), until_caught_up=True)
    assert await stored(pool, shadow) == wanted, "the rebuild's batched writes differ"
    assert await rebuilt.position() == last


async def test_a_message_lost_in_delivery_is_read_again(private_nc, pool, schema, monkeypatch):
    """A reconnect can lose messages the consumer has already delivered (no acks): the
    reader notices the hole in the consumer's numbering and reads from the stored position
    again, whether the hole is mid-batch or at the very end of a burst."""
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(12)]
    last = 0
    for event in events:
        last = await bus.publish(event)
    fetch = JetStreamContext.PullSubscription.fetch
    losses = {1: 4, 2: -1}  # fetch number → index of the message it loses (mid, then the tail)
    calls = 0

    async def lossy_fetch(self, *args, **kwargs):
        nonlocal calls
        batch = await fetch(self, *args, **kwargs)
        calls += 1
        if calls in losses and batch:
            del batch[losses[calls]]
        return batch

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", lossy_fetch)
    runner = counting_runner(bus, pool, schema, batch_size=8, idle_wait=0.2, gap_check_seconds=0.5)
    await run_until(runner, last)
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}


async def test_a_runner_that_makes_no_progress_with_events_waiting_is_stalled(
    private_nc, pool, schema
):
    """Another transaction holds the position (a stuck replica, a long manual query): the
    runner waits, and after `stall_seconds` says so (/readyz turns unready); it recovers."""
    bus = EventBus(private_nc)
    runner = counting_runner(bus, pool, schema, idle_wait=0.2, stall_seconds=1.0)
    check = projection_check(runner)
    await runner.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.sleep(1.5)
        await check()  # idle with nothing to do: not stalled
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"SELECT * FROM {schema}.projection_positions WHERE projection = $1 FOR UPDATE",
                CountingProjection.name,
            )
            last = await bus.publish(examples.completed())
            await asyncio.sleep(2.0)
            with pytest.raises(RuntimeError, match="no progress"):
                await check()
        await caught_up(runner, last, timeout=10)
        await check()
    finally:
        stop.set()
        await task


async def test_connections_broken_mid_batch_lose_no_event(private_nats, private_nc, pool, schema):
    """The runner reads a backlog, and then events as they come, through a proxy that
    resets its connection every few hundredths of a second: whatever was in flight is lost
    to the client, yet every event is applied exactly once, and the tables equal a
    rebuild's."""
    bus = EventBus(private_nc)
    events = [examples.completed() for _ in range(3000)]
    backlog, live = events[:2000], events[2000:]
    await asyncio.gather(*(bus.publish(event) for event in backlog))
    proxy = CuttingProxy.in_front_of(private_nats.url).start()
    reader = await connect(proxy.url(private_nats.url), name="reader through the proxy")
    runner = ProjectionRunner(
        js=reader.jetstream(),
        pool=pool,
        projection=CountingProjection(),
        schema=schema,
        batch_size=500,
        idle_wait=0.2,
        gap_check_seconds=0.5,
    )
    await runner.prepare()
    stop, published = asyncio.Event(), asyncio.Event()

    async def break_connections() -> None:
        while not published.is_set():
            await asyncio.sleep(random.uniform(0.02, 0.1))
            await asyncio.to_thread(proxy.cut)

    tasks = [asyncio.create_task(runner.run(stop)), asyncio.create_task(break_connections())]
    try:
        last = 0
        for start in range(0, len(live), 100):
            last = max(await asyncio.gather(*(bus.publish(e) for e in live[start : start + 100])))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        published.set()
        await caught_up(runner, last, timeout=60)
    finally:
        published.set()
        stop.set()
        await asyncio.gather(*tasks)
        with contextlib.suppress(ConnectionError):  # nats-py, closing amid a reconnect
            await reader.close()
        proxy.stop()
    assert await applied(pool, schema) == {event.event_id: 1 for event in events}
    assert proxy.cut_connections >= 6
    shadow = f"{schema}_rebuilt"
    rebuilt = counting_runner(bus, pool, shadow, replay=True)
    await rebuilt.run(asyncio.Event(), until_caught_up=True)
    assert await applied(pool, shadow) == await applied(pool, schema)
