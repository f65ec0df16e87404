"""Composition root of the workspace service."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from atelier.contracts import workspace as api
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime import rpc
from atelier.runtime.bus import connect
from atelier.runtime.db import create_pool
from atelier.runtime.health import nats_check, postgres_check, s3_check, serve_health
from atelier.runtime.lifecycle import wait_all
from atelier.runtime.objects import ObjectStore
from atelier.runtime.projection import ProjectionRunner
from atelier.workspace.config import WorkspaceSettings
from atelier.workspace.projection import WorkspaceProjection
from atelier.workspace.queries import WorkspaceQueries


async def run(settings: WorkspaceSettings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as stack:
        nc = await connect(settings.nats_url, name=f"workspace{settings.instance_id}")
        stack.push_async_callback(nc.drain)
        pool = await create_pool(settings.database_url, settings.db_schema)
        stack.push_async_callback(pool.close)
        objects = await stack.enter_async_context(ObjectStore(settings))
        await objects.ensure_bucket(WORKSPACE_BUCKET)

        runner = ProjectionRunner(
            js=nc.jetstream(),
            pool=pool,
            projection=WorkspaceProjection(settings.retention_days),
            schema=settings.db_schema,
        )
        await runner.prepare()
        queries = WorkspaceQueries(pool, objects, settings)
        await rpc.serve(nc, api.LIST_ASSETS, api.ListAssets, queries.list_assets, queue=api.SERVICE)
        await serve_health(
            settings,
            {
                "nats": nats_check(nc),
                "postgres": postgres_check(pool),
                "s3": s3_check(objects, WORKSPACE_BUCKET),
            },
            stack,
        )
        await wait_all(stop, runner.run(stop))
