"""Side effects of the workspace, each recording its outcome as an event.

- An asset left the workspace → delete its two objects → `workspace.files_deleted`.
  If it was saved, only once the library holds its copy (nothing is ever lost).
- A library asset is copied back → copy its objects in → `workspace.asset_added`.
- A library asset was deleted → its workspace original counts as unsaved again.
- A job ended → it no longer counts against its user's limit of active jobs.

A rebuild of the projection never runs these: they consume a durable consumer of their
own, and their outcomes are events the projection reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nats.js.api import ConsumerConfig

from atelier.contracts import library_events as library
from atelier.contracts import storage, subjects
from atelier.contracts import workspace_events as events
from atelier.contracts.generation import OUTCOMES
from atelier.runtime.aggregates import execute
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Retry
from atelier.runtime.handlers import EventType, ReactorHandler
from atelier.runtime.limits import ActiveJobs
from atelier.runtime.objects import ObjectStore
from atelier.runtime.outcomes import Outcome
from atelier.runtime.service import reactor_config
from atelier.workspace.domain import decisions
from atelier.workspace.domain.decisions import SOURCE

DURABLE = "workspace-reactors"


def consumer_config() -> ConsumerConfig:
    return reactor_config(DURABLE, HANDLERS)


class WorkspaceReactors:
    def __init__(
        self, bus: EventBus, objects: ObjectStore, active_jobs: ActiveJobs, retention: timedelta
    ) -> None:
        self.bus = bus
        self.objects = objects
        self.active_jobs = active_jobs
        #: How long a copy from the library stays (its event says until when).
        self.retention = retention

    async def delete_files(self, left, sequence: int) -> None:
        user, asset = left.user_id, left.data.asset_id
        files_deleted = subjects.aggregate(user, events.KIND, asset, events.FilesDeleted.name)
        outcome = await Outcome.pending(self.bus, files_deleted, sequence)
        if outcome is None:
            return  # its files_deleted is on the log
        saved_as = left.data.library_asset_id
        if saved_as is not None and not await self._copied_since_saved(left, saved_as):
            raise Retry("the library has not stored its copy yet")
        keys = [left.data.storage_key, left.data.thumbnail_key]
        await self.objects.delete_all(storage.WORKSPACE_BUCKET, keys)
        await outcome.record(
            events.FilesDeleted.create(
                source=SOURCE,
                user_id=user,
                causation=left,
                data=events.FilesDeletedData(asset_id=asset, keys=keys),
            )
        )

    async def _copied_since_saved(self, left, library_id) -> bool:
        """Whether the library stored a copy after the asset's last save. (Whatever became
        of that copy since is the user's doing; an older copy, deleted before this save,
        does not count.)"""
        user, asset = left.user_id, left.data.asset_id
        saved = subjects.aggregate(user, events.KIND, asset, events.AssetSaved.name)
        stored = subjects.aggregate(user, library.ASSET_KIND, library_id, library.AssetStored.name)
        return await self.bus.last_sequence(stored) > await self.bus.last_sequence(saved)

    async def copy_in(self, copied: library.CopiedToWorkspace, sequence: int) -> None:
        user, new_id, source = copied.user_id, copied.data.workspace_asset_id, copied.data.asset
        added = subjects.aggregate(user, events.KIND, new_id, events.AssetAdded.name)
        outcome = await Outcome.pending(self.bus, added, sequence)
        if outcome is None:
            return  # the copy was added (and may be gone again since: it stays gone)
        snapshot = await self.objects.copy_asset(
            source,
            storage.LIBRARY_BUCKET,
            storage.WORKSPACE_BUCKET,
            storage.workspace_copy(user, new_id, storage.extension_of(source.storage_key)),
            storage.workspace_copy_thumbnail(user, new_id),
        )
        await outcome.record(
            events.AssetAdded.create(
                source=SOURCE,
                user_id=user,
                causation=copied,
                data=events.AssetAddedData(
                    asset_id=new_id,
                    source_library_asset_id=copied.data.library_asset_id,
                    asset=snapshot,
                    expires_at=datetime.now(UTC) + self.retention,
                ),
            )
        )

    async def unsave(self, deleted: library.AssetDeleted, sequence: int) -> None:
        user, asset_id = deleted.user_id, deleted.data.source_workspace_asset_id
        library_id = deleted.data.library_asset_id
        history = subjects.aggregate_history(user, events.KIND, asset_id)
        await execute(
            self.bus,
            history,
            lambda h: decisions.unsave(user, asset_id, h, library_id, deleted, sequence),
        )

    async def release(self, ended, sequence: int) -> None:
        """The job ended: it no longer counts against its user's active jobs."""
        await self.active_jobs.release(ended.user_id, ended.data.job_id)


HANDLERS: dict[EventType, ReactorHandler] = {
    **dict.fromkeys(events.LEFT, WorkspaceReactors.delete_files),
    library.CopiedToWorkspace: WorkspaceReactors.copy_in,
    library.AssetDeleted: WorkspaceReactors.unsave,
    **dict.fromkeys(OUTCOMES, WorkspaceReactors.release),
}
