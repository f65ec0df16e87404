"""`workspace_assets`, projected from `generation.completed`."""

from __future__ import annotations

import asyncpg

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import GenerationCompleted
from atelier.workspace.domain.assets import asset_id, expires_at

DDL = """
CREATE TABLE IF NOT EXISTS workspace_assets (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    job_id uuid NOT NULL,
    asset_index integer NOT NULL,
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
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    UNIQUE (job_id, asset_index)
);
CREATE INDEX IF NOT EXISTS workspace_assets_user_newest
    ON workspace_assets (user_id, created_at DESC, job_id DESC, asset_index);
"""

INSERT = """
INSERT INTO workspace_assets (
    id, user_id, job_id, asset_index, asset_type, storage_key, thumbnail_key, mime_type,
    file_size_bytes, width, height, duration_seconds, generation_seed, original_prompt,
    negative_prompt, model_used, generation_settings, created_at, expires_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (job_id, asset_index) DO NOTHING
"""


class WorkspaceProjection:
    name = "workspace_assets"
    subjects = (subjects.generation_events("completed"),)

    def __init__(self, retention_days: float) -> None:
        self.retention_days = retention_days

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        await conn.execute(DDL)

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        match event:
            case GenerationCompleted():
                await self._add_generated(conn, event)

    async def _add_generated(self, conn: asyncpg.Connection, event: GenerationCompleted) -> None:
        spec = event.data.spec
        settings = spec.model_dump(mode="json", exclude={"prompt", "negative_prompt", "model"})
        created = event.occurred_at
        await conn.executemany(
            INSERT,
            [
                (
                    asset_id(event.data.job_id, asset.index),
                    event.user_id,
                    event.data.job_id,
                    asset.index,
                    asset.asset_type,
                    asset.storage_key,
                    asset.thumbnail_key,
                    asset.mime_type,
                    asset.file_size_bytes,
                    asset.width,
                    asset.height,
                    asset.duration_seconds,
                    asset.seed,
                    spec.prompt,
                    spec.negative_prompt,
                    spec.model,
                    settings,
                    created,
                    expires_at(created, self.retention_days),
                )
                for asset in event.data.assets
            ],
        )
