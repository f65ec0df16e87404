"""The workspace's commands: each reads the asset, decides on its history, appends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from atelier.contracts import subjects
from atelier.contracts import workspace as api
from atelier.contracts import workspace_events as events
from atelier.contracts.envelope import Envelope
from atelier.runtime.aggregates import execute
from atelier.runtime.bus import EventBus
from atelier.runtime.rpc import RpcError
from atelier.workspace.domain.decisions import AssetDecisions
from atelier.workspace.repository import AssetRepository, AssetRow


@dataclass
class WorkspaceCommands:
    bus: EventBus
    assets: AssetRepository
    until_shown: Callable[[Envelope, int], Awaitable[object]]

    async def save(self, command: api.SaveAsset) -> api.Saved:
        row = await self._asset(command)
        return await self._execute(row, lambda d, h: d.save(h, command.options))

    async def discard(self, command: api.DiscardAsset) -> api.Discarded:
        row = await self._asset(command)
        return await self._execute(row, lambda d, h: d.discard(h))

    async def clear(self, command: api.Clear) -> api.Cleared:
        saved = removed = 0
        for row in await self.assets.of_user(command.user_id, command.options.job_id):
            outcome = await self._execute(row, lambda d, h: d.clear(h))
            saved, removed = saved + outcome.saved, removed + outcome.removed
        return api.Cleared(saved=saved, removed=removed)

    async def _asset(self, command: api.SaveAsset | api.DiscardAsset) -> AssetRow:
        row = await self.assets.get(command.user_id, command.asset_id)
        if row is None:
            raise RpcError(404, "Not Found", "no such asset in your workspace")
        return row

    async def _execute(self, row: AssetRow, decide):
        decisions = AssetDecisions(row.user_id, row.id, row.snapshot)
        history = subjects.aggregate_history(row.user_id, events.KIND, row.id)
        return await execute(
            self.bus, history, lambda h: decide(decisions, h), until_shown=self.until_shown
        )
