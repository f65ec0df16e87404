"""`user_library` and `user_collections`, one projection: an asset count changes in the
same transaction as the asset that changes it, so `asset_count` is always exact."""

from __future__ import annotations

import uuid
from typing import ClassVar

from atelier.contracts import asset_columns, watermarks
from atelier.contracts import library_events as events
from atelier.contracts.envelope import Envelope
from atelier.runtime.projection import TableProjection, WriteHandlers
from atelier.runtime.writes import Writes

DDL = f"""
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
    {asset_columns.DDL},
    collection_id uuid,
    custom_title text,
    tags text[] NOT NULL DEFAULT '{{}}',
    is_favorite boolean NOT NULL DEFAULT false,
    visibility text NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'unlisted', 'public')),
    share_token text,
    shared_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- Tables made before share links get their columns (a rebuild also makes them).
ALTER TABLE user_library ADD COLUMN IF NOT EXISTS share_token text;
ALTER TABLE user_library ADD COLUMN IF NOT EXISTS shared_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS user_library_share_token
    ON user_library (share_token) WHERE share_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_library_public_newest
    ON user_library (shared_at DESC, id DESC) WHERE visibility = 'public';
CREATE INDEX IF NOT EXISTS user_library_user_newest
    ON user_library (user_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS user_library_collection ON user_library (collection_id);
CREATE INDEX IF NOT EXISTS user_library_tags ON user_library USING gin (tags);
"""

#: Store an asset, in its collection when that (still) exists for the user, and count it.
_AFTER_ASSET = len(asset_columns.NAMES) + 4  # $4 … are the asset's columns
STORE_ASSET = f"""
WITH stored AS (
    INSERT INTO user_library (
        id, user_id, source_workspace_asset_id, {asset_columns.LIST}, collection_id,
        custom_title, tags, created_at, updated_at
    ) VALUES ($1, $2, $3, {", ".join(f"${i}" for i in range(4, _AFTER_ASSET))},
              (SELECT id FROM user_collections WHERE id = ${_AFTER_ASSET} AND user_id = $2),
              ${_AFTER_ASSET + 1}, ${_AFTER_ASSET + 2}, ${_AFTER_ASSET + 3}, ${_AFTER_ASSET + 3})
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


def stored(event: events.AssetStored, writes: Writes) -> None:
    data = event.data
    writes.add(
        STORE_ASSET,
        (
            data.library_asset_id,
            event.user_id,
            data.source_workspace_asset_id,
            *asset_columns.values(data.asset),
            data.collection_id,
            data.custom_title,
            data.tags,
            event.occurred_at,
        ),
        **_keys(event, data.library_asset_id, data.collection_id),
    )


def updated(event: events.AssetUpdated, writes: Writes) -> None:
    """New values of the fields it names; a move counts the asset out of one collection
    and into the other; a change of visibility sets the share token it carries."""
    data = event.data
    values = {field: getattr(data, field) for field in data.changed}
    assignments = [
        f"{field} = {EXISTING_COLLECTION.format(i)}"
        if field == "collection_id"
        else f"{field} = ${i}"
        for i, field in enumerate(values, start=4)
    ]
    if "visibility" in values:
        # The link's token, and since when the asset has its current visibility (the
        # public gallery's order): the row's values before this update decide.
        token, visibility = 4 + len(values), 4 + list(values).index("visibility")
        assignments += [
            f"share_token = ${token}",
            f"shared_at = CASE WHEN ${token}::text IS NULL THEN NULL"
            " WHEN user_library.shared_at IS NULL"
            f" OR user_library.visibility IS DISTINCT FROM ${visibility}::text"
            " THEN $3 ELSE user_library.shared_at END",
        ]
        values["share_token"] = data.share_token
    moved_to = data.collection_id if "collection_id" in values else None
    writes.add(
        UPDATE_ASSET.format(assignments=", ".join(assignments)),
        (data.library_asset_id, event.user_id, event.occurred_at, *values.values()),
        # The collection it leaves is not known here; the write that put it there
        # shares the asset's key, so it ran before.
        **_keys(event, data.library_asset_id, moved_to),
    )


def deleted(event: events.AssetDeleted, writes: Writes) -> None:
    writes.add(
        DELETE_ASSET,
        (event.data.library_asset_id, event.user_id),
        **_keys(event, event.data.library_asset_id),
    )


def collection_created(event: events.CollectionCreated, writes: Writes) -> None:
    writes.add(
        "INSERT INTO user_collections (id, user_id, name, description, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
        _collection_args(event),
        **_keys(event, None, event.data.collection_id),
    )


def collection_updated(event: events.CollectionUpdated, writes: Writes) -> None:
    writes.add(
        "UPDATE user_collections SET name = $3, description = $4, updated_at = $5 "
        "WHERE id = $1 AND user_id = $2",
        _collection_args(event),
        **_keys(event, None, event.data.collection_id),
    )


def collection_deleted(event: events.CollectionDeleted, writes: Writes) -> None:
    """Its assets stay, outside any collection: found by a query, so barriers (see
    atelier.runtime.writes)."""
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


class LibraryProjection(TableProjection):
    name = watermarks.LIBRARY
    ddl = (DDL,)
    handlers: ClassVar[WriteHandlers] = {
        events.AssetStored: stored,
        events.AssetUpdated: updated,
        events.AssetDeleted: deleted,
        events.CollectionCreated: collection_created,
        events.CollectionUpdated: collection_updated,
        events.CollectionDeleted: collection_deleted,
    }


def _keys(event: Envelope, library_asset_id: uuid.UUID | None, collection_id=None) -> dict:
    keys = [("library", library_asset_id)] if library_asset_id else []
    keys += [("collection", collection_id)] if collection_id else []
    return {"scope": event.user_id, "keys": keys}


def _collection_args(event: Envelope) -> tuple:
    data = event.data
    return (data.collection_id, event.user_id, data.name, data.description, event.occurred_at)
