"""Expiry: assets past their time leave the workspace as `workspace.asset_expired`.

Each replica sweeps the users of the partitions it applies (see atelier.runtime.leases):
the replicas share the work instead of all taking the same rows. A sweep takes
everything due, however much: it walks the due assets in (expires_at, id) order, a page
at a time, expiring a page's assets concurrently. Optimistic concurrency on each asset's
history keeps a racing save or discard right; the files reactor then deletes the objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from atelier.contracts import subjects
from atelier.contracts import workspace_events as events
from atelier.contracts.partitions import partition_of
from atelier.runtime.aggregates import execute
from atelier.runtime.bus import EventBus
from atelier.workspace.domain.decisions import AssetDecisions
from atelier.workspace.repository import AssetRepository, AssetRow

log = logging.getLogger(__name__)


class ExpirySweeper:
    def __init__(
        self,
        bus: EventBus,
        assets: AssetRepository,
        partitions: Callable[[], Collection[int]],
        *,
        page: int = 500,
        concurrency: int = 32,
    ) -> None:
        """`partitions`: those this replica applies now (its users are its to sweep)."""
        self.bus = bus
        self.assets = assets
        self.partitions = partitions
        self.page = page
        self.concurrency = asyncio.Semaphore(concurrency)

    async def sweep(self, now: datetime | None = None) -> int:
        """Expire what is due now among this replica's users; how many assets expired."""
        now = now or datetime.now(UTC)
        expired, after = 0, None
        while rows := await self.assets.expired(now, self.page, after):
            mine = set(self.partitions())
            ours = [row for row in rows if partition_of(row.user_id) in mine]
            expired += sum(await asyncio.gather(*(self._expire(row) for row in ours)))
            after = (rows[-1].expires_at, rows[-1].id)
        if expired:
            log.info("assets expired", extra={"count": expired})
        return expired

    async def _expire(self, row: AssetRow) -> bool:
        async with self.concurrency:
            decisions = AssetDecisions(row.user_id, row.id, row.snapshot)
            history = subjects.aggregate_history(row.user_id, events.KIND, row.id)
            try:
                return await execute(self.bus, history, decisions.expire)
            except Exception:  # the next round tries this one again
                log.exception("expiring an asset failed", extra={"asset": str(row.id)})
                return False
