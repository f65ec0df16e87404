"""`user_library` and `user_collections`, one projection: an asset count changes in the
same transaction as the asset that changes it, so `asset_count` is always exact."""

from __future__ import annotations

import uuid

import asyncpg

from atelier.contracts import library_events as events
from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.runtime.writes import Writes

DDL = """
CREATE TABLE IF NOT EXISTS user_collections (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    asset_count integer NOT NULL DEFAULT 0 CHECK (asset_count >= 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_collections_user ON user_collections (user_id, created_at);

CREATE TABLE IF NOT EXISTS user_library (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    source_workspace_asset_id uuid NOT NULL,
    asset_type text NOT NULL CHECK (asset_type IN ('image', 'video')),
    storage_key text NOT NULL,
    thumbnail_key text NOT NULL,
    mime_type text NOT NULL,
    file_size_bytes bigint NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    duration_seconds double precision,
    generation_seed bigint NOT NULL,
    original_prompt text NOT NULL,
    negative_prompt text,
    model_used text NOT NULL,
    generation_settings jsonb NOT NULL,
    collection_id uuid,
    custom_title text,
    tags text[] NOT NULL DEFAULT '{}',
    is_favorite boolean NOT NULL DEFAULT false,
    visibility text NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'unlisted', 'public')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_library_user_newest
    ON user_library (user_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS user_library_collection ON user_library (collection_id);
CREATE INDEX IF NOT EXISTS user_library_tags ON user_library USING gin (tags);
"""

#: Store an asset, in its collection when that (still) exists for the user, and count it.
STORE_ASSET = """
WITH stored AS (
    INSERT INTO user_library (
        id, user_id, source_workspace_asset_id, asset_type, storage_key, thumbnail_key,
        mime_type, file_size_bytes, width, height, duration_seconds, generation_seed,
        original_prompt, negative_prompt, model_used, generation_settings, collection_id,
        custom_title, tags, created_at, updated_at
    ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
              (SELECT id FROM user_collections WHERE id = $17 AND user_id = $2),
              $18, $19, $20, $20)
    ON CONFLICT (id) DO NOTHING
    RETURNING collection_id
)
UPDATE user_collections SET asset_count = asset_count + 1
FROM stored WHERE user_collections.id = stored.collection_id
"""

DELETE_ASSET = """
WITH deleted AS (
    DELETE FROM user_library WHERE id = $1 AND user_id = $2 RETURNING collection_id
)
UPDATE user_collections SET asset_count = asset_count - 1
FROM deleted WHERE user_collections.id = deleted.collection_id
"""

#: Update an asset's fields ({assignments}); a move counts it out of one collection and
#: into the other.
UPDATE_ASSET = """
WITH current AS (
    SELECT id, collection_id FROM user_library WHERE id = $1 AND user_id = $2 FOR UPDATE
), updated AS (
    UPDATE user_library SET updated_at = $3, {assignments}
    FROM current WHERE user_library.id = current.id
    RETURNING current.collection_id AS old, user_library.collection_id AS new
)
UPDATE user_collections SET asset_count = asset_count
    + CASE WHEN user_collections.id = updated.new THEN 1 ELSE 0 END
    - CASE WHEN user_collections.id = updated.old THEN 1 ELSE 0 END
FROM updated
WHERE user_collections.id IN (updated.old, updated.new) AND updated.old IS DISTINCT FROM updated.new
"""

#: The collection, if it (still) exists for the user ($2), else NULL: the asset stays out.
EXISTING_COLLECTION = "(SELECT id FROM user_collections WHERE id = ${} AND user_id = $2)"


class LibraryProjection:
    name = "library"
    subjects = (
        subjects.events_of(events.ASSET_KIND, events.AssetStored.name),
        subjects.events_of(events.ASSET_KIND, events.AssetUpdated.name),
        subjects.events_of(events.ASSET_KIND, events.AssetDeleted.name),
        subjects.events_of(events.COLLECTION_KIND),
    )

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        await conn.execute(DDL)

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        writes = Writes()
        self.write(event, writes)
        await writes.flush(conn)

    def write(self, event: Envelope, writes: Writes) -> None:
        """The writes that apply `event` (see atelier.runtime.writes); a write that moves
        an asset in or out of a collection also corrects the collection's count."""
        match event:
            case events.AssetStored():
                data, asset = event.data, event.data.asset
                writes.add(
                    STORE_ASSET,
                    (
                        data.library_asset_id, event.user_id, data.source_workspace_asset_id,
                        asset.asset_type, asset.storage_key, asset.thumbnail_key,
                        asset.mime_type, asset.file_size_bytes, asset.width, asset.height,
                        asset.duration_seconds, asset.generation_seed, asset.original_prompt,
                        asset.negative_prompt, asset.model_used, asset.generation_settings,
                        data.collection_id, data.custom_title, data.tags, event.occurred_at,
                    ),
                    **_keys(event, data.library_asset_id, data.collection_id),
                )  # fmt: skip
            case events.AssetUpdated():
                self._updated(event, writes)
            case events.AssetDeleted():
                writes.add(
                    DELETE_ASSET,
                    (event.data.library_asset_id, event.user_id),
                    **_keys(event, event.data.library_asset_id),
                )
            case events.CollectionCreated():
                writes.add(
                    "INSERT INTO user_collections (id, user_id, name, description, created_at, "
                    "updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
                    _collection_args(event),
                    **_keys(event, None, event.data.collection_id),
                )
            case events.CollectionUpdated():
                writes.add(
                    "UPDATE user_collections SET name = $3, description = $4, updated_at = $5 "
                    "WHERE id = $1 AND user_id = $2",
                    _collection_args(event),
                    **_keys(event, None, event.data.collection_id),
                )
            case events.CollectionDeleted():
                # Its assets are found by a query: barriers (see atelier.runtime.writes).
                writes.add(
                    "UPDATE user_library SET collection_id = NULL, updated_at = $3 "
                    "WHERE collection_id = $1 AND user_id = $2",
                    (event.data.collection_id, event.user_id, event.occurred_at),
                    scope=event.user_id,
                    keys=None,
                )
                writes.add(
                    "DELETE FROM user_collections WHERE id = $1 AND user_id = $2",
                    (event.data.collection_id, event.user_id),
                    scope=event.user_id,
                    keys=None,
                )

    def _updated(self, event: events.AssetUpdated, writes: Writes) -> None:
        data = event.data
        values = {field: getattr(data, field) for field in data.changed}
        assignments = [
            f"{field} = {EXISTING_COLLECTION.format(i)}"
            if field == "collection_id"
            else f"{field} = ${i}"
            for i, field in enumerate(values, start=4)
        ]
        moved_to = data.collection_id if "collection_id" in values else None
        writes.add(
            UPDATE_ASSET.format(assignments=", ".join(assignments)),
            (data.library_asset_id, event.user_id, event.occurred_at, *values.values()),
            # The collection it leaves is not known here; the write that put it there
            # shares the asset's key, so it ran before.
            **_keys(event, data.library_asset_id, moved_to),
        )


def _keys(event: Envelope, library_asset_id: uuid.UUID | None, collection_id=None) -> dict:
    keys = [("library", library_asset_id)] if library_asset_id else []
    keys += [("collection", collection_id)] if collection_id else []
    return {"scope": event.user_id, "keys": keys}


def _collection_args(event: Envelope) -> tuple:
    data = event.data
    return (data.collection_id, event.user_id, data.name, data.description, event.occurred_at)
