"""A rebuild spread over processes: each fills the shadow schema for its share of the
partitions.

One Python process rebuilds at the speed of one core: reading, decoding and turning
events into writes are all CPU work (see bench/results). Partitions are independent (one
position each, no table row shared between users), so processes can each take some and
apply them side by side into the same shadow schema; the swap then works as for one.

Each process still reads the whole filtered log and skips the other processes' events by
their subject (cheaply: no decoding), since a consumer cannot filter by partition.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from atelier.contracts.partitions import PARTITIONS
from atelier.runtime.bus import connect
from atelier.runtime.db import create_pool
from atelier.runtime.projection import Projection, ProjectionRunner


@dataclass(frozen=True)
class RebuildProcesses:
    """Where the processes connect (they cannot share the caller's connections), and how
    many there are."""

    nats_url: str
    database_url: str
    count: int

    def shares(self) -> list[tuple[int, ...]]:
        """The partitions of each process: every partition exactly once."""
        count = max(1, min(self.count, PARTITIONS))
        return [tuple(range(first, PARTITIONS, count)) for first in range(count)]

    async def fill(self, projection: Projection, schema: str, batch_size: int) -> float:
        """Apply the whole log into `schema` (prepared already) and return when every
        process has caught up with the log's end as it found it; the CPU seconds they used."""
        loop = asyncio.get_running_loop()
        # Not a plain fork: it would copy this process's event loop, connections and
        # threads. A fork server starts clean, imports the modules once, then forks each
        # process ready to run (a spawn would import them again in every one).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["__main__", __name__, type(projection).__module__])
        shares = [
            _Share(self.nats_url, self.database_url, projection, schema, share, batch_size)
            for share in self.shares()
        ]
        with ProcessPoolExecutor(len(shares), mp_context=context) as pool:
            used = await asyncio.gather(
                *(loop.run_in_executor(pool, share.fill) for share in shares)
            )
        return sum(used)


@dataclass(frozen=True)
class _Share:
    """What one process applies, and where (sent to it pickled)."""

    nats_url: str
    database_url: str
    projection: Projection
    schema: str
    partitions: tuple[int, ...]
    batch_size: int

    def fill(self) -> float:
        """(In a process of its own.) The CPU seconds this process used."""
        asyncio.run(self._fill())
        return time.process_time()

    async def _fill(self) -> None:
        name = f"rebuild-{self.projection.name}-{self.partitions[0]}"
        nc = await connect(self.nats_url, name=name)
        pool = await create_pool(self.database_url, self.schema, max_size=2)
        try:
            runner = ProjectionRunner(
                js=nc.jetstream(),
                pool=pool,
                projection=self.projection,
                schema=self.schema,
                batch_size=self.batch_size,
                replay=True,
                partitions=self.partitions,
            )
            await runner.run(asyncio.Event(), until_caught_up=True, prepared=True)
        finally:
            await pool.close()
            await nc.close()
