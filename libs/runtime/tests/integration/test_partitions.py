"""Partitions of users: the same as nats-server's own `partition(n, …)` transform, and
shared by a projection's replicas, each partition applied by one of them, taken over when
one dies, every event applied exactly once."""

import asyncio
import uuid

import asyncpg
import pytest
from nats.js.api import StreamConfig, StreamSource, SubjectTransform

from atelier.contracts import examples
from atelier.contracts.partitions import PARTITIONS, partition_of
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import EventBus
from atelier.runtime.leases import PartitionLeases
from atelier.runtime.projection import ProjectionRunner
from libs.runtime.tests.integration.counting import applied, caught_up, counting_runner

pytestmark = pytest.mark.integration


async def test_our_partition_of_a_user_is_the_servers(private_nc):
    """A stream sourcing the log through `partition(16, 1)` files each user where
    `partition_of` says, so the server could partition the log the same way."""
    js, bus = private_nc.jetstream(), EventBus(private_nc)
    users = [uuid.uuid4() for _ in range(300)]
    for user in users:
        await bus.publish(examples.requested(user))
    transform = SubjectTransform(
        src="atelier.user.*.>",
        dest=f"parts.{{{{partition({PARTITIONS},1)}}}}.{{{{wildcard(1)}}}}.>",
    )
    source = StreamSource(name=EVENTS.name, subject_transforms=[transform])
    await js.add_stream(StreamConfig(name="PARTS", sources=[source]))
    async with asyncio.timeout(20):
        while (await js.stream_info("PARTS")).state.messages < len(users):
            await asyncio.sleep(0.1)
    filed = (await js.stream_info("PARTS", subjects_filter=">")).state.subjects
    where = {tuple(subject.split(".")[1:3]) for subject in filed}
    assert {(str(partition_of(user)), str(user)) for user in users} == where


async def test_replicas_share_the_partitions_and_take_over_a_dead_ones(
    private_nc,
    pool,
    schema,
    servers,
):
    bus = EventBus(private_nc)

    def replica() -> ProjectionRunner:
        leases = PartitionLeases(servers.database_url, f"{schema}.counting", PARTITIONS)
        return counting_runner(
            bus, pool, schema, batch_size=50, idle_wait=0.2, leases=leases, lease_seconds=0.3
        )

    first, second = replica(), replica()
    await first.prepare()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(first.run(stop_first)),
        asyncio.create_task(second.run(stop_second)),
    ]
    try:
        async with asyncio.timeout(20):
            while not (first.held and second.held and len(first.held | second.held) == 16):
                await asyncio.sleep(0.1)
        assert not first.held & second.held, "a partition held by both"
        assert abs(len(first.held) - len(second.held)) <= 1
        events = [examples.completed() for _ in range(200)]
        last = max([await bus.publish(event) for event in events])
        await caught_up(first, last)

        stop_second.set()  # a replica goes away: its leases with it
        await tasks[1]
        async with asyncio.timeout(20):
            while len(first.held) < PARTITIONS:
                await asyncio.sleep(0.1)
        more = [examples.completed() for _ in range(100)]
        last = max([await bus.publish(event) for event in more])
        await caught_up(first, last)
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*tasks)
    assert await applied(pool, schema) == {event.event_id: 1 for event in events + more}


async def test_a_replica_whose_connection_dies_loses_its_partitions(servers, schema):
    """kill -9 of a replica, seen from PostgreSQL: its session ends, its locks go."""
    leases = PartitionLeases(servers.database_url, f"{schema}.counting", PARTITIONS)
    other = PartitionLeases(servers.database_url, f"{schema}.counting", PARTITIONS)
    assert len(await leases.rebalance()) == PARTITIONS
    assert await other.rebalance() == frozenset()
    pid = leases._conn.get_server_pid()
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    assert len(await other.rebalance()) == PARTITIONS
    await other.close()
    await leases.close()
