"""Read side of the library: filtered pages of assets with signed URLs, collections."""

from __future__ import annotations

import uuid
from datetime import datetime

from atelier.contracts import library as api
from atelier.contracts.generation import ImageRef
from atelier.contracts.storage import LIBRARY_BUCKET
from atelier.library.config import LibrarySettings
from atelier.library.repository import LibraryRepository
from atelier.runtime import cursors
from atelier.runtime.objects import ObjectStore
from atelier.runtime.rpc import RpcError


class LibraryQueries:
    def __init__(
        self, repository: LibraryRepository, objects: ObjectStore, settings: LibrarySettings
    ) -> None:
        self.repository = repository
        self.objects = objects
        self.settings = settings

    async def list_assets(self, query: api.ListAssets) -> api.AssetPage:
        after = cursors.decode(query.cursor, datetime, uuid.UUID) if query.cursor else (None, None)
        rows = await self.repository.assets(query.user_id, query.filters, after, query.limit + 1)
        page, next_cursor = cursors.page(rows, query.limit, lambda r: (r["created_at"], r["id"]))
        return api.AssetPage(items=[await self.view(row) for row in page], next_cursor=next_cursor)

    async def view(self, row) -> api.LibraryAsset:
        return api.LibraryAsset(
            **row,
            file_url=await self.objects.presign_get(
                LIBRARY_BUCKET, row["storage_key"], self.settings.file_url_seconds
            ),
            thumbnail_url=await self.objects.presign_get(
                LIBRARY_BUCKET, row["thumbnail_key"], self.settings.thumbnail_url_seconds
            ),
        )

    async def list_collections(self, query: api.ListCollections) -> api.Collections:
        rows = await self.repository.collections(query.user_id)
        return api.Collections(items=[api.Collection(**row) for row in rows])

    async def locate_image(self, query: api.AssetRef) -> ImageRef:
        row = await self.repository.asset(query.user_id, query.library_asset_id)
        if row is None or row["asset_type"] != "image":
            raise RpcError(404, "Not Found", "no such image in your library")
        return ImageRef(bucket=LIBRARY_BUCKET, key=row["storage_key"])
