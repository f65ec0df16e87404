"""Read side: a user's unexpired workspace, newest first, with signed URLs."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atelier.contracts import workspace as api
from atelier.contracts.assets import AssetSettings
from atelier.contracts.generation import ImageRef
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime import cursors
from atelier.runtime.objects import ObjectStore
from atelier.runtime.rpc import RpcError
from atelier.workspace.config import WorkspaceSettings

LIST = """
SELECT * FROM workspace_assets
WHERE user_id = $1 AND expires_at > now()
ORDER BY created_at DESC, group_id DESC, asset_index
LIMIT $2
"""

#: The page after a cursor. `(created_at, group_id) <= (...)` is the index condition that
#: starts the scan at the cursor (a page deep in a big workspace reads one page of the
#: index, not everything before it); the rest skips the cursor's own job up to its asset.
LIST_AFTER = """
SELECT * FROM workspace_assets
WHERE user_id = $1 AND expires_at > now()
  AND (created_at, group_id) <= ($2, $3)
  AND ((created_at, group_id) < ($2, $3) OR asset_index > $4)
ORDER BY created_at DESC, group_id DESC, asset_index
LIMIT $5
"""


class WorkspaceQueries:
    def __init__(
        self, pool: asyncpg.Pool, objects: ObjectStore, settings: WorkspaceSettings
    ) -> None:
        self.pool = pool
        self.objects = objects
        self.settings = settings

    async def list_assets(self, query: api.ListAssets) -> api.AssetPage:
        if query.cursor:
            after = cursors.decode(query.cursor, datetime, uuid.UUID, int)
            rows = await self.pool.fetch(LIST_AFTER, query.user_id, *after, query.limit + 1)
        else:
            rows = await self.pool.fetch(LIST, query.user_id, query.limit + 1)
        page, next_cursor = cursors.page(
            rows, query.limit, lambda r: (r["created_at"], r["group_id"], r["asset_index"])
        )
        return api.AssetPage(items=[await self._view(row) for row in page], next_cursor=next_cursor)

    async def _view(self, row: asyncpg.Record) -> api.WorkspaceAsset:
        return api.WorkspaceAsset(
            **row,
            file_url=await self.objects.presign_get(
                WORKSPACE_BUCKET, row["storage_key"], self.settings.file_url_seconds
            ),
            thumbnail_url=await self.objects.presign_get(
                WORKSPACE_BUCKET, row["thumbnail_key"], self.settings.thumbnail_url_seconds
            ),
        )

    async def locate_image(self, query: api.LocateImage) -> ImageRef:
        row = await self.pool.fetchrow(
            "SELECT storage_key FROM workspace_assets "
            "WHERE id = $1 AND user_id = $2 AND asset_type = 'image' AND expires_at > now()",
            query.asset_id,
            query.user_id,
        )
        if row is None:
            raise RpcError(404, "Not Found", "no such image in your workspace")
        return ImageRef(bucket=WORKSPACE_BUCKET, key=row["storage_key"])

    async def asset_settings(self, query: api.AssetSettingsOf) -> AssetSettings:
        row = await self.pool.fetchrow(
            "SELECT * FROM workspace_assets WHERE id = $1 AND user_id = $2 AND expires_at > now()",
            query.asset_id,
            query.user_id,
        )
        if row is None:
            raise RpcError(404, "Not Found", "remix_of: no such asset in your workspace")
        return AssetSettings.of(row)
