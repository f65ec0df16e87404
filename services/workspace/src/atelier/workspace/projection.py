"""The workspace projection: `workspace_assets` from generation and workspace events,
and `generation_jobs` (see `jobs`) from generation events, in one transaction each."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from atelier.contracts import storage, subjects
from atelier.contracts import workspace_events as events
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import GenerationCompleted, generated_asset_id
from atelier.runtime.writes import Writes
from atelier.workspace import jobs

DDL = """
CREATE TABLE IF NOT EXISTS workspace_assets (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    job_id uuid,
    asset_index integer NOT NULL,
    -- Listing groups a job's assets together: a copy from the library is its own group.
    group_id uuid GENERATED ALWAYS AS (coalesce(job_id, id)) STORED,
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
    library_asset_id uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    UNIQUE (job_id, asset_index)
);
CREATE INDEX IF NOT EXISTS workspace_assets_user_newest
    ON workspace_assets (user_id, created_at DESC, group_id DESC, asset_index);
CREATE INDEX IF NOT EXISTS workspace_assets_expiry ON workspace_assets (expires_at);
"""

INSERT = """
INSERT INTO workspace_assets (
    user_id, id, job_id, asset_index, asset_type, storage_key, thumbnail_key, mime_type,
    file_size_bytes, width, height, duration_seconds, generation_seed, original_prompt,
    negative_prompt, model_used, generation_settings, created_at, expires_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT DO NOTHING
"""


class WorkspaceProjection:
    name = "workspace_assets"
    subjects = (
        subjects.generation_events(),
        subjects.events_of(events.KIND),
    )

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        await conn.execute(DDL)
        await conn.execute(jobs.DDL)

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        writes = Writes()
        self.write(event, writes)
        await writes.flush(conn)

    def write(self, event: Envelope, writes: Writes) -> None:
        """The writes that apply `event` (see atelier.runtime.writes)."""
        if event.type.startswith("generation."):
            jobs.write(event, writes)
        match event:
            case GenerationCompleted():
                self._add_generated(event, writes)
            case events.AssetAdded():
                s = event.data.asset
                row = _row(
                    s, event.data.asset_id, None, 0, s.generation_seed, s.original_prompt,
                    s.negative_prompt, s.model_used, s.generation_settings,
                )  # fmt: skip
                self._insert(writes, event, row)
            case events.AssetSaved():
                self._set_library_asset(writes, event, event.data.library_asset_id)
            case events.AssetUnsaved():
                self._set_library_asset(writes, event, None)
            case events.AssetDiscarded() | events.AssetRemoved() | events.AssetExpired():
                writes.add(
                    "DELETE FROM workspace_assets WHERE id = $1 AND user_id = $2",
                    (event.data.asset_id, event.user_id),
                    **_keys(event, event.data.asset_id),
                )

    def _add_generated(self, event: GenerationCompleted, writes: Writes) -> None:
        job, spec = event.data.job_id, event.data.spec
        settings = spec.model_dump(mode="json", exclude={"prompt", "negative_prompt", "model"})
        for asset in event.data.assets:
            row = _row(
                asset, generated_asset_id(job, asset.index), job, asset.index, asset.seed,
                spec.prompt, spec.negative_prompt, spec.model, settings,
            )  # fmt: skip
            self._insert(writes, event, row)

    def _insert(
        self, writes: Writes, event: GenerationCompleted | events.AssetAdded, row: tuple
    ) -> None:
        writes.add(INSERT, (event.user_id, *row, *lifetime(event)), **_keys(event, row[0]))

    def _set_library_asset(self, writes: Writes, event: Envelope, library_asset_id) -> None:
        writes.add(
            "UPDATE workspace_assets SET library_asset_id = $3 WHERE id = $1 AND user_id = $2",
            (event.data.asset_id, event.user_id, library_asset_id),
            **_keys(event, event.data.asset_id),
        )


def lifetime(event: GenerationCompleted | events.AssetAdded) -> tuple[datetime, datetime]:
    """When an asset came and when it goes: as its event says (never from the settings of
    the day, so a rebuild gives the same rows whatever they are)."""
    expires_at = event.data.expires_at or event.occurred_at + storage.WORKSPACE_RETENTION
    return event.occurred_at, expires_at


def _keys(event: Envelope, asset_id) -> dict:
    return {"scope": event.user_id, "keys": (("asset", asset_id),)}


def _row(f, row_id, job_id, index: int, seed, prompt, negative, model, settings) -> tuple:
    """Columns id … generation_settings of one asset (user, times added by the caller);
    `f`: the file (a GeneratedAsset or an AssetSnapshot)."""
    return (
        row_id, job_id, index, f.asset_type, f.storage_key, f.thumbnail_key, f.mime_type,
        f.file_size_bytes, f.width, f.height, f.duration_seconds, seed, prompt, negative, model,
        settings,
    )  # fmt: skip
