"""What every service opens at start-up: connections, health, routes, reactors.

`resources` connects NATS, S3 and (for services with tables) PostgreSQL once, and serves
/healthz, /readyz and /metrics over them; the GPU workers and the workspace and library
services all start from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig

from atelier.contracts.envelope import Envelope
from atelier.contracts.partitions import PARTITIONS
from atelier.contracts.streams import EVENTS
from atelier.runtime import rpc
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.consumer import Handler, WorkConsumer, ensure_consumer
from atelier.runtime.db import create_pool
from atelier.runtime.handlers import subject_filters
from atelier.runtime.health import (
    Check,
    consumer_check,
    nats_check,
    postgres_check,
    projection_check,
    s3_check,
    serve_health,
)
from atelier.runtime.leases import PartitionLeases
from atelier.runtime.lifecycle import wait_all
from atelier.runtime.metrics import observe_consumers
from atelier.runtime.objects import ObjectStore
from atelier.runtime.projection import Projection, ProjectionRunner
from atelier.runtime.settings import RuntimeSettings

#: An RPC a service answers: its subject, the request's model and the handler.
Route = tuple[str, type, rpc.Handler]


@dataclass(frozen=True)
class Resources:
    settings: RuntimeSettings
    #: The service's name: its NATS connection's, and the queue group of its routes.
    service: str
    #: Its tables' schema; None for a service without tables (the GPU workers).
    schema: str | None
    nc: NatsClient
    bus: EventBus
    objects: ObjectStore
    #: None for a service without tables (the GPU workers).
    pool: asyncpg.Pool | None
    #: What /readyz checks; parts started later (a projection) add theirs.
    checks: dict[str, Check]

    async def serve(self, routes: Iterable[Route]) -> None:
        """Answer each route's requests, in the service's queue group."""
        for subject, request_model, handler in routes:
            await rpc.serve(self.nc, subject, request_model, handler, queue=self.service)


@asynccontextmanager
async def resources(
    settings: RuntimeSettings,
    *,
    service: str,
    bucket: str | None,
    durables: list[str],
    schema: str | None = None,
) -> AsyncIterator[Resources]:
    """NATS, S3 with the service's bucket (if it keeps files), a pool on its schema (if it
    has tables), and /readyz over them and over the service's durable consumers being
    bound."""
    async with AsyncExitStack() as stack:
        nc = await connect(settings.nats_url, name=f"{service}{settings.instance_id}")
        stack.push_async_callback(nc.drain)
        objects = await stack.enter_async_context(ObjectStore(settings))
        checks = {"nats": nats_check(nc)}
        if bucket is not None:
            await objects.ensure_bucket(bucket)
            checks["s3"] = s3_check(objects, bucket)
        pool = None
        if schema is not None:
            pool = await create_pool(settings.database_url, schema)
            stack.push_async_callback(pool.close)
            checks["postgres"] = postgres_check(pool)
        checks |= {
            f"consumer {durable}": consumer_check(nc.jetstream(), EVENTS.name, durable)
            for durable in durables
        }
        await serve_health(settings, checks, stack)
        yield Resources(
            settings=settings,
            service=service,
            schema=schema,
            nc=nc,
            bus=EventBus(nc),
            pool=pool,
            objects=objects,
            checks=checks,
        )


async def live_projection(res: Resources, projection: Projection) -> ProjectionRunner:
    """A service's projection runner over its tables (created, in the service's schema),
    applying the partitions this replica holds and announcing its watermark; /readyz turns
    unready while it is stalled."""
    schema = res.schema
    assert schema is not None, "a projection needs the service's tables"
    runner = ProjectionRunner(
        js=res.bus.js,
        pool=res.pool,
        projection=projection,
        schema=schema,
        announce=res.nc,
        stall_seconds=res.settings.projection_stall_seconds,
        leases=PartitionLeases(
            res.settings.database_url, f"{schema}.{projection.name}", PARTITIONS
        ),
    )
    res.checks[f"projection {projection.name}"] = projection_check(runner)
    await runner.prepare()
    return runner


def reactor_config(durable: str, handlers: Mapping[type[Envelope], object]) -> ConsumerConfig:
    """A reactor's durable consumer, reading the events its handler table names: explicit
    acks, redelivered until handled."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subjects=list(subject_filters(handlers)),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30,
        max_deliver=-1,
    )


async def reactor(res: Resources, config: ConsumerConfig, handle: Handler) -> WorkConsumer:
    """A work consumer on its own durable consumer, created or updated first."""
    await ensure_consumer(res.bus.js, EVENTS.name, config)
    return WorkConsumer(
        js=res.bus.js,
        stream=EVENTS.name,
        durable=config.durable_name,
        handle=handle,
        concurrency=res.settings.reactor_concurrency,
        max_attempts=res.settings.reactor_max_attempts,
        config=config,
    )


async def project_and_react(
    res: Resources,
    stop: asyncio.Event,
    runner: ProjectionRunner,
    reactions: tuple[ConsumerConfig, Handler],
    *background: Awaitable[None],
) -> None:
    """Run a service's projection, its reactor (its durable consumer, and the handler of
    what it delivers), the consumer metrics and `background` work until `stop`."""
    config, handle = reactions
    reacting = await reactor(res, config, handle)
    await wait_all(
        stop,
        runner.run(stop),
        reacting.run(stop),
        observe_consumers(res.bus.js, [config.durable_name], stop),
        *background,
    )
