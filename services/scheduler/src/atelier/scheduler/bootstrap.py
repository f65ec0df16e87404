"""Composition root of the scheduler: the log's generation events folded into the fair
queue, the workers' capacity, the dispatching lease, the usage projection, and the
queries."""

from __future__ import annotations

import asyncio

from atelier.contracts import scheduling as api
from atelier.contracts import usage
from atelier.runtime.leases import PartitionLeases
from atelier.runtime.lifecycle import periodically, wait_all
from atelier.runtime.service import live_projection, resources
from atelier.scheduler.capacity import Capacity
from atelier.scheduler.config import SchedulerSettings
from atelier.scheduler.dispatcher import Dispatcher
from atelier.scheduler.metrics import ACTIVE
from atelier.scheduler.queries import SchedulerQueries
from atelier.scheduler.usage import UsageProjection
from atelier.scheduler.usage_queries import UsageQueries


async def run(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    async with resources(
        settings,
        service=api.SERVICE,
        schema=settings.db_schema,
        durables=[],
        bucket=None,
    ) as res:
        # One lease: the replica that holds it dispatches; the others follow the log.
        lease = PartitionLeases(settings.database_url, f"{settings.db_schema}.dispatch", 1)
        capacity = Capacity()
        await capacity.follow(res.nc)
        dispatcher = Dispatcher(
            res.bus, capacity, settings.tiers, settings.default_tier, lambda: bool(lease.held)
        )
        runner = await live_projection(res, UsageProjection())
        queries = SchedulerQueries(dispatcher, capacity)
        usage_queries = UsageQueries(res.pool)
        await res.serve(
            [
                (api.QUEUE_POSITION, api.GetQueuePosition, queries.queue_position),
                (api.QUEUE, api.GetQueue, queries.queue),
                (usage.GET_USAGE, usage.GetUsage, usage_queries.usage),
                (usage.USAGE_TODAY, usage.GetUsageToday, usage_queries.usage_today),
            ]
        )

        async def hold_lease() -> None:
            ACTIVE.set(1 if await lease.rebalance() else 0)

        try:
            await wait_all(
                stop,
                dispatcher.run(stop),
                runner.run(stop),
                periodically(stop, settings.lease_seconds, hold_lease, "dispatch lease"),
            )
        finally:
            await lease.close()
