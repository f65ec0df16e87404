"""Reads of `workspace_assets` the commands and the sweeper need (writes go through the log)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atelier.contracts import asset_columns

_COLUMNS = f"user_id, id, created_at, expires_at, {asset_columns.LIST}"


class AssetRow:
    """A workspace asset as the commands need it: its owner, its id and its data."""

    def __init__(self, record: asyncpg.Record) -> None:
        self.user_id: uuid.UUID = record["user_id"]
        self.id: uuid.UUID = record["id"]
        self.expires_at: datetime = record["expires_at"]
        self.snapshot = asset_columns.snapshot_of(record)


class AssetRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def get(self, user_id: uuid.UUID, asset_id: uuid.UUID) -> AssetRow | None:
        record = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM workspace_assets WHERE id = $1 AND user_id = $2",
            asset_id,
            user_id,
        )
        return AssetRow(record) if record else None

    async def of_user(self, user_id: uuid.UUID, job_id: uuid.UUID | None) -> list[AssetRow]:
        records = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM workspace_assets "
            "WHERE user_id = $1 AND ($2::uuid IS NULL OR job_id = $2) "
            "ORDER BY created_at, group_id, asset_index",
            user_id,
            job_id,
        )
        return [AssetRow(record) for record in records]

    async def expired(
        self, now: datetime, limit: int, after: tuple[datetime, uuid.UUID] | None = None
    ) -> list[AssetRow]:
        """Assets due at `now`, in (expires_at, id) order, from just after `after`."""
        after_time, after_id = after or (None, None)
        records = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM workspace_assets "
            "WHERE expires_at <= $1 "
            "AND ($3::timestamptz IS NULL OR (expires_at, id) > ($3, $4::uuid)) "
            "ORDER BY expires_at, id LIMIT $2",
            now,
            limit,
            after_time,
            after_id,
        )
        return [AssetRow(record) for record in records]
