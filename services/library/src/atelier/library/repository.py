"""Reads of the library tables that commands, queries and reactors need."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atelier.contracts import library as api

LIST = """
SELECT * FROM user_library
WHERE user_id = $1
  AND ($2::uuid IS NULL OR collection_id = $2)
  AND ($3::text IS NULL OR original_prompt ILIKE $3 OR custom_title ILIKE $3)
  AND ($4::text IS NULL OR tags @> ARRAY[$4])
  AND ($5::boolean IS NULL OR is_favorite = $5)
  AND ($6::text IS NULL OR asset_type = $6)
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8))
ORDER BY created_at DESC, id DESC
LIMIT $9
"""


#: Shared assets: a link's asset while it is not private; the public ones, newest first.
SHARED = """
SELECT * FROM user_library
WHERE share_token = $1 AND visibility IN ('unlisted', 'public')
"""
PUBLIC = """
SELECT * FROM user_library
WHERE visibility = 'public' AND share_token IS NOT NULL
  AND ($1::timestamptz IS NULL OR (shared_at, id) < ($1, $2))
ORDER BY shared_at DESC, id DESC
LIMIT $3
"""


def like_pattern(text: str) -> str:
    """`text` as a literal substring for ILIKE (its wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class LibraryRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def asset(self, user_id: uuid.UUID, asset_id: uuid.UUID) -> dict | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM user_library WHERE id = $1 AND user_id = $2", asset_id, user_id
        )
        return dict(row) if row else None

    async def assets(
        self,
        user_id: uuid.UUID,
        filters: api.AssetFilters,
        after: tuple[datetime, uuid.UUID] | tuple[None, None],
        limit: int,
    ) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            LIST,
            user_id,
            filters.collection_id,
            like_pattern(filters.q) if filters.q else None,
            filters.tag,
            filters.favorite,
            filters.asset_type,
            *after,
            limit,
        )

    async def shared(self, token: str) -> dict | None:
        row = await self.pool.fetchrow(SHARED, token)
        return dict(row) if row else None

    async def public(
        self, after: tuple[datetime, uuid.UUID] | tuple[None, None], limit: int
    ) -> list[asyncpg.Record]:
        return await self.pool.fetch(PUBLIC, *after, limit)

    async def collection(self, user_id: uuid.UUID, collection_id: uuid.UUID) -> dict | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM user_collections WHERE id = $1 AND user_id = $2",
            collection_id,
            user_id,
        )
        return dict(row) if row else None

    async def collections(self, user_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM user_collections WHERE user_id = $1 ORDER BY created_at, id", user_id
        )
