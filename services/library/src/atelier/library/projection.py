"""`user_library` and `user_collections`, one projection: an asset count changes in the
same transaction as the asset that changes it, so `asset_count` is always exact."""

from __future__ import annotations

import uuid

import asyncpg

from atelier.contracts import library_events as events
from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope

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

INSERT_ASSET = """
INSERT INTO user_library (
    id, user_id, source_workspace_asset_id, asset_type, storage_key, thumbnail_key, mime_type,
    file_size_bytes, width, height, duration_seconds, generation_seed, original_prompt,
    negative_prompt, model_used, generation_settings, collection_id, custom_title, tags,
    created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
          $20, $20)
ON CONFLICT (id) DO NOTHING
RETURNING collection_id
"""


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
        match event:
            case events.AssetStored():
                await self._stored(conn, event)
            case events.AssetUpdated():
                await self._updated(conn, event)
            case events.AssetDeleted():
                deleted = await conn.fetchrow(
                    "DELETE FROM user_library WHERE id = $1 AND user_id = $2 "
                    "RETURNING collection_id",
                    event.data.library_asset_id,
                    event.user_id,
                )
                if deleted and deleted["collection_id"]:
                    await _count(conn, deleted["collection_id"], -1)
            case events.CollectionCreated():
                await conn.execute(
                    "INSERT INTO user_collections (id, user_id, name, description, created_at, "
                    "updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
                    event.data.collection_id,
                    event.user_id,
                    event.data.name,
                    event.data.description,
                    event.occurred_at,
                )
            case events.CollectionUpdated():
                await conn.execute(
                    "UPDATE user_collections SET name = $3, description = $4, updated_at = $5 "
                    "WHERE id = $1 AND user_id = $2",
                    event.data.collection_id,
                    event.user_id,
                    event.data.name,
                    event.data.description,
                    event.occurred_at,
                )
            case events.CollectionDeleted():
                await conn.execute(
                    "UPDATE user_library SET collection_id = NULL, updated_at = $3 "
                    "WHERE collection_id = $1 AND user_id = $2",
                    event.data.collection_id,
                    event.user_id,
                    event.occurred_at,
                )
                await conn.execute(
                    "DELETE FROM user_collections WHERE id = $1 AND user_id = $2",
                    event.data.collection_id,
                    event.user_id,
                )

    async def _stored(self, conn: asyncpg.Connection, event: events.AssetStored) -> None:
        data, asset = event.data, event.data.asset
        collection = await _existing_collection(conn, event.user_id, data.collection_id)
        inserted = await conn.fetchrow(
            INSERT_ASSET,
            data.library_asset_id, event.user_id, data.source_workspace_asset_id,
            asset.asset_type, asset.storage_key, asset.thumbnail_key, asset.mime_type,
            asset.file_size_bytes, asset.width, asset.height, asset.duration_seconds,
            asset.generation_seed, asset.original_prompt, asset.negative_prompt,
            asset.model_used, asset.generation_settings, collection, data.custom_title,
            data.tags, event.occurred_at,
        )  # fmt: skip
        if inserted and collection:
            await _count(conn, collection, +1)

    async def _updated(self, conn: asyncpg.Connection, event: events.AssetUpdated) -> None:
        data = event.data
        current = await conn.fetchrow(
            "SELECT collection_id FROM user_library WHERE id = $1 AND user_id = $2 FOR UPDATE",
            data.library_asset_id,
            event.user_id,
        )
        if current is None:
            return  # deleted meanwhile
        values = {field: getattr(data, field) for field in data.changed}
        if "collection_id" in values:
            old = current["collection_id"]
            new = await _existing_collection(conn, event.user_id, data.collection_id)
            values["collection_id"] = new
            if new != old:
                if old:
                    await _count(conn, old, -1)
                if new:
                    await _count(conn, new, +1)
        assignments = ", ".join(f"{field} = ${i}" for i, field in enumerate(values, start=4))
        await conn.execute(
            f"UPDATE user_library SET updated_at = $3, {assignments} "
            "WHERE id = $1 AND user_id = $2",
            data.library_asset_id,
            event.user_id,
            event.occurred_at,
            *values.values(),
        )


async def _existing_collection(conn, user_id: uuid.UUID, collection_id: uuid.UUID | None):
    """The collection if it (still) exists for this user, else None: the asset stays out."""
    if collection_id is None:
        return None
    return await conn.fetchval(
        "SELECT id FROM user_collections WHERE id = $1 AND user_id = $2",
        collection_id,
        user_id,
    )


async def _count(conn: asyncpg.Connection, collection_id: uuid.UUID, delta: int) -> None:
    await conn.execute(
        "UPDATE user_collections SET asset_count = asset_count + $2 WHERE id = $1",
        collection_id,
        delta,
    )
