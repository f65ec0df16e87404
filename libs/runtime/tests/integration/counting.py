"""A projection for the runner's tests: it counts how often each event was applied."""

import asyncio
import uuid

import asyncpg

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.runtime.bus import EventBus
from atelier.runtime.projection import ProjectionRunner


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


async def applied(pool, schema) -> dict[uuid.UUID, int]:
    rows = await pool.fetch(f"SELECT event_id, times FROM {schema}.applied")
    return {row["event_id"]: row["times"] for row in rows}


def counting_runner(bus: EventBus, pool, schema: str, **options) -> ProjectionRunner:
    """A runner of a new `CountingProjection` into `schema`, with the runner's `options`."""
    return ProjectionRunner(
        js=bus.js, pool=pool, projection=CountingProjection(), schema=schema, **options
    )


async def caught_up(runner: ProjectionRunner, position: int, timeout: float = 20) -> None:
    """Wait until the runner has applied the log up to `position`."""
    async with asyncio.timeout(timeout):
        while await runner.position() < position:
            await asyncio.sleep(0.05)
