"""Rebuild a projection from sequence 1 into a shadow schema, then swap it in.

Readers keep reading the live schema while the shadow fills. The swap happens in one
transaction that first locks the live positions (so no live runner can commit), brings
each partition of the shadow to exactly its live position, then renames the schemas. Readers
resolve tables by name (search_path), so their next query sees the rebuilt tables; the
live runner's next batch fails once and restarts from the stored position.

The shadow fills in this process or, given `processes`, in several side by side.
Only the projection runs: reactors are separate consumers, so no side effect re-runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg
from nats.js.client import JetStreamContext

from atelier.contracts.partitions import PARTITIONS
from atelier.runtime import positions
from atelier.runtime.db import identifier
from atelier.runtime.projection import Projection, ProjectionRunner
from atelier.runtime.rebuild_processes import RebuildProcesses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildReport:
    position: int
    seconds: float
    rows: dict[str, int]
    #: CPU seconds of the processes that filled the shadow (0: it filled in this one).
    processes_cpu_seconds: float = 0.0


async def rebuild(
    *,
    js: JetStreamContext,
    pool: asyncpg.Pool,
    projection: Projection,
    schema: str,
    batch_size: int = 5000,
    processes: RebuildProcesses | None = None,
) -> RebuildReport:
    """`processes`: fill the shadow schema with several processes, each applying some
    partitions (see atelier.runtime.rebuild_processes); by default, this one alone."""
    live, shadow, retired = identifier(schema), f"{schema}_rebuild", f"{schema}_retired"
    started = time.perf_counter()
    await pool.execute(f"DROP SCHEMA IF EXISTS {shadow} CASCADE")
    runner = ProjectionRunner(
        js=js, pool=pool, projection=projection, schema=shadow, batch_size=batch_size, replay=True
    )
    processes_cpu = 0.0
    if processes is None:
        await runner.run(asyncio.Event(), until_caught_up=True)
    else:
        await runner.prepare()
        processes_cpu = await processes.fill(projection, shadow, batch_size)

    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {live}")
        live_positions = await positions.locked(conn, projection.name, range(PARTITIONS))
        await runner.catch_up_in(conn, live_positions)
        position = min(live_positions.values())
        await conn.execute(f"DROP SCHEMA IF EXISTS {retired} CASCADE")
        await conn.execute(f"ALTER SCHEMA {live} RENAME TO {retired}")
        await conn.execute(f"ALTER SCHEMA {shadow} RENAME TO {live}")
        await conn.execute(f"DROP SCHEMA {retired} CASCADE")
        rows = await _row_counts(conn, live)
    seconds = round(time.perf_counter() - started, 3)
    report = RebuildReport(position, seconds, rows, round(processes_cpu, 3))
    log.info("projection rebuilt", extra={"schema": live, **report.__dict__})
    return report


async def _row_counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {
        row["table_name"]: await conn.fetchval(f"SELECT count(*) FROM {schema}.{row['table_name']}")
        for row in tables
        if row["table_name"] not in ("projection_positions", "projection_tracking")
    }
