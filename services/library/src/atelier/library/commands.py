"""The library's commands: each reads its item, decides on its history, appends."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from atelier.contracts import asset_columns, subjects
from atelier.contracts import library as api
from atelier.contracts import library_events as events
from atelier.contracts.envelope import Envelope
from atelier.library.domain.decisions import (
    AssetDecisions,
    CollectionDecisions,
    collection_exists,
)
from atelier.library.queries import LibraryQueries
from atelier.library.repository import LibraryRepository
from atelier.runtime.aggregates import Refused, execute, read_last_event
from atelier.runtime.bus import EventBus
from atelier.runtime.rpc import RpcError


@dataclass
class LibraryCommands:
    bus: EventBus
    repository: LibraryRepository
    queries: LibraryQueries
    until_shown: Callable[[Envelope, int], Awaitable[object]]

    async def update_asset(self, command: api.UpdateAsset) -> api.LibraryAsset:
        decisions = await self._asset(command)
        target = command.patch.collection_id
        if "collection_id" in command.changed and target is not None:
            await self.check_collection(
                api.CollectionRef(user_id=command.user_id, collection_id=target)
            )
        row = await self._execute(
            events.ASSET_KIND, decisions, lambda h: decisions.update(h, command)
        )
        return await self.queries.view(row | {"updated_at": datetime.now(UTC)})

    async def delete_asset(self, command: api.AssetRef) -> api.Deleted:
        decisions = await self._asset(command)
        return await self._execute(events.ASSET_KIND, decisions, decisions.delete)

    async def copy_to_workspace(self, command: api.AssetRef) -> api.CopiedToWorkspace:
        decisions = await self._asset(command)
        copy = asset_columns.snapshot_of(decisions.row)
        return await self._execute(
            events.ASSET_KIND, decisions, lambda h: decisions.copy_to_workspace(h, copy)
        )

    async def create_collection(self, command: api.CreateCollection) -> api.Collection:
        decisions = CollectionDecisions(command.user_id, uuid.uuid4())
        await self._execute(
            events.COLLECTION_KIND, decisions, lambda h: decisions.create(h, command.fields)
        )
        now = datetime.now(UTC)
        return api.Collection(
            id=decisions.id, asset_count=0, created_at=now, updated_at=now,
            **command.fields.model_dump(),
        )  # fmt: skip

    async def check_collection(self, command: api.CollectionRef) -> api.CollectionRef:
        """Whether the user has this collection, from the log (a projection may lag)."""
        history = subjects.aggregate_history(
            command.user_id, events.COLLECTION_KIND, command.collection_id
        )
        if not collection_exists(await read_last_event(self.bus, history)):
            raise Refused(404, "Not Found", "no such collection in your library")
        return command

    async def update_collection(self, command: api.UpdateCollection) -> api.Collection:
        decisions = CollectionDecisions(command.user_id, command.collection_id)
        fields = await self._execute(
            events.COLLECTION_KIND, decisions, lambda h: decisions.update(h, command.patch)
        )
        current = await self.repository.collection(command.user_id, command.collection_id)
        return api.Collection(
            id=command.collection_id,
            asset_count=current["asset_count"] if current else 0,
            created_at=current["created_at"] if current else datetime.now(UTC),
            updated_at=datetime.now(UTC),
            **fields.model_dump(),
        )

    async def delete_collection(self, command: api.CollectionRef) -> api.Deleted:
        decisions = CollectionDecisions(command.user_id, command.collection_id)
        await self._execute(events.COLLECTION_KIND, decisions, decisions.delete)
        return api.Deleted(id=command.collection_id)

    async def _asset(self, command: api.AssetRef | api.UpdateAsset) -> AssetDecisions:
        row = await self.repository.asset(command.user_id, command.library_asset_id)
        if row is None:
            raise RpcError(404, "Not Found", "no such asset in your library")
        return AssetDecisions(command.user_id, row)

    async def _execute(self, kind: str, decisions, decide):
        history = subjects.aggregate_history(decisions.user_id, kind, decisions.id)
        return await execute(self.bus, history, decide, until_shown=self.until_shown)
