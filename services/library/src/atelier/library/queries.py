"""Read side of the library: filtered pages of assets with signed URLs, collections."""

from __future__ import annotations

import uuid
from datetime import datetime

from atelier.contracts import library as api
from atelier.contracts.assets import AssetSettings
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
        token = row.get("share_token")
        return api.LibraryAsset(
            **row,
            share_url=api.share_path(token) if token and row["visibility"] != "private" else None,
            file_url=await self.objects.presign_get(
                LIBRARY_BUCKET, row["storage_key"], self.settings.file_url_seconds
            ),
            thumbnail_url=await self.objects.presign_get(
                LIBRARY_BUCKET, row["thumbnail_key"], self.settings.thumbnail_url_seconds
            ),
        )

    async def shared_asset(self, query: api.SharedAssetRef) -> api.SharedAsset:
        """The asset of a live share link; 404 for any other token (never said why)."""
        row = await self.repository.shared(query.token)
        if row is None:
            raise RpcError(404, "Not Found", "no such shared asset")
        return shared_view(row)

    async def public_assets(self, query: api.PublicAssetsQuery) -> api.SharedAssetPage:
        after = cursors.decode(query.cursor, datetime, uuid.UUID) if query.cursor else (None, None)
        rows = await self.repository.public(after, query.limit + 1)
        page, next_cursor = cursors.page(rows, query.limit, lambda r: (r["shared_at"], r["id"]))
        items = [shared_view(row) for row in page]
        return api.SharedAssetPage(items=items, next_cursor=next_cursor)

    async def locate_shared_file(self, query: api.LocateSharedFile) -> api.SharedFile:
        row = await self.repository.shared(query.token)
        if row is None:
            raise RpcError(404, "Not Found", "no such shared asset")
        key = row["storage_key"] if query.part == "file" else row["thumbnail_key"]
        return api.SharedFile(bucket=LIBRARY_BUCKET, key=key)

    async def list_collections(self, query: api.ListCollections) -> api.Collections:
        rows = await self.repository.collections(query.user_id)
        return api.Collections(items=[api.Collection(**row) for row in rows])

    async def asset_settings(self, query: api.AssetRef) -> AssetSettings:
        row = await self.repository.asset(query.user_id, query.library_asset_id)
        if row is None:
            raise RpcError(404, "Not Found", "remix_of: no such asset in your library")
        return AssetSettings.of(row)

    async def locate_image(self, query: api.AssetRef) -> ImageRef:
        row = await self.repository.asset(query.user_id, query.library_asset_id)
        if row is None or row["asset_type"] != "image":
            raise RpcError(404, "Not Found", "no such image in your library")
        return ImageRef(bucket=LIBRARY_BUCKET, key=row["storage_key"])


#: A title made of a prompt is cut to this many characters.
TITLE_FROM_PROMPT = 120


def shared_view(row) -> api.SharedAsset:
    """What anyone with the link sees of a row: the picked fields only, with URLs relative
    to the gateway (which serves the files: a signed S3 URL would name the owner's key)."""
    token = row["share_token"]
    prompt = " ".join(row["original_prompt"].split())
    title = row["custom_title"] or (
        prompt if len(prompt) <= TITLE_FROM_PROMPT else prompt[: TITLE_FROM_PROMPT - 1] + "…"
    )
    page = api.share_path(token)
    return api.SharedAsset(
        token=token,
        share_url=page,
        visibility=row["visibility"],
        title=title,
        asset_type=row["asset_type"],
        mime_type=row["mime_type"],
        width=row["width"],
        height=row["height"],
        duration_seconds=row["duration_seconds"],
        settings=AssetSettings.of(row).model_copy(update={"reference": None}),
        file_url=f"{page}/file",
        thumbnail_url=f"{page}/thumbnail",
        shared_at=row["shared_at"],
    )
