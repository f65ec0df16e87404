"""Side effects of the library, each recording its outcome as an event.

- A workspace asset was saved → copy its objects into `user-library` → `library.asset_stored`
  (only then does the asset become visible in the library).
- A library asset was deleted → delete its objects → `library.files_deleted`.
"""

from __future__ import annotations

import uuid

from nats.js.api import ConsumerConfig

from atelier.contracts import library_events as events
from atelier.contracts import storage, subjects
from atelier.contracts import workspace_events as workspace
from atelier.library.domain.decisions import SOURCE
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Reject
from atelier.runtime.handlers import EventType, ReactorHandler
from atelier.runtime.objects import ObjectMissing, ObjectStore
from atelier.runtime.outcomes import Outcome
from atelier.runtime.service import reactor_config

DURABLE = "library-reactors"


def consumer_config() -> ConsumerConfig:
    return reactor_config(DURABLE, HANDLERS)


class LibraryReactors:
    def __init__(self, bus: EventBus, objects: ObjectStore) -> None:
        self.bus = bus
        self.objects = objects

    async def store(self, saved: workspace.AssetSaved, sequence: int) -> None:
        try:
            await self._store(saved, sequence)
        except ObjectMissing as missing:
            # Never expected: the workspace keeps the files until the copy exists.
            raise Reject(f"the saved asset's file is gone: {missing}") from missing

    async def _store(self, saved: workspace.AssetSaved, sequence: int) -> None:
        user, library_id, source = saved.user_id, saved.data.library_asset_id, saved.data.asset
        stored = _subject(user, library_id, events.AssetStored)
        outcome = await Outcome.pending(self.bus, stored, sequence)
        if outcome is None:
            return  # stored (and maybe deleted since: a late save must not bring it back)
        stored = await self.objects.copy_asset(
            source,
            storage.WORKSPACE_BUCKET,
            storage.LIBRARY_BUCKET,
            storage.library_file(
                user, library_id, saved.event_id, storage.extension_of(source.storage_key)
            ),
            storage.library_thumbnail(user, library_id, saved.event_id),
        )
        await outcome.record(
            events.AssetStored.create(
                source=SOURCE,
                user_id=user,
                causation=saved,
                data=events.AssetStoredData.of_saved(saved.data, stored),
            )
        )

    async def delete_files(self, deleted: events.AssetDeleted, sequence: int) -> None:
        library_id = deleted.data.library_asset_id
        files_deleted = _subject(deleted.user_id, library_id, events.LibraryFilesDeleted)
        outcome = await Outcome.pending(self.bus, files_deleted, sequence)
        if outcome is None:
            return  # deleted already (the keys are this copy's own: never a later copy's)
        keys = [deleted.data.storage_key, deleted.data.thumbnail_key]
        await self.objects.delete_all(storage.LIBRARY_BUCKET, keys)
        await outcome.record(
            events.LibraryFilesDeleted.create(
                source=SOURCE,
                user_id=deleted.user_id,
                causation=deleted,
                data=events.FilesDeletedData(library_asset_id=library_id, keys=keys),
            )
        )


HANDLERS: dict[EventType, ReactorHandler] = {
    workspace.AssetSaved: LibraryReactors.store,
    events.AssetDeleted: LibraryReactors.delete_files,
}


def _subject(user_id: uuid.UUID, library_asset_id: uuid.UUID, event) -> str:
    return subjects.aggregate(user_id, events.ASSET_KIND, library_asset_id, event.name)
