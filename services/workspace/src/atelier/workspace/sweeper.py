"""Expiry: assets past their time leave the workspace as `workspace.asset_expired`.

Every replica may sweep; optimistic concurrency and deterministic message ids make a
second sweeper's append a no-op. The files reactor then deletes the objects.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from atelier.contracts import subjects
from atelier.contracts import workspace_events as events
from atelier.runtime.aggregates import execute
from atelier.runtime.bus import EventBus
from atelier.workspace.domain.lifecycle import AssetDecisions
from atelier.workspace.repository import AssetRepository

log = logging.getLogger(__name__)


class ExpirySweeper:
    def __init__(self, bus: EventBus, assets: AssetRepository, *, batch: int = 200) -> None:
        self.bus = bus
        self.assets = assets
        self.batch = batch

    async def sweep(self, now: datetime | None = None) -> int:
        """Expire what is due now; returns how many assets expired."""
        expired = 0
        for row in await self.assets.expired(now or datetime.now(UTC), self.batch):
            decisions = AssetDecisions(row.user_id, row.id, row.snapshot)
            history = subjects.aggregate_history(row.user_id, events.KIND, row.id)
            if await execute(self.bus, history, decisions.expire):
                expired += 1
        if expired:
            log.info("assets expired", extra={"count": expired})
        return expired
