"""The workspace projection: `workspace_assets` from generation and workspace events, and
`generation_jobs` (see `jobs`) from generation events, each event in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from atelier.contracts import asset_columns, storage, watermarks
from atelier.contracts import generation as gen
from atelier.contracts import workspace_events as events
from atelier.contracts.assets import AssetSnapshot
from atelier.runtime.projection import TableProjection, WriteHandlers
from atelier.runtime.writes import Writes
from atelier.workspace import jobs

DDL = f"""
CREATE TABLE IF NOT EXISTS workspace_assets (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    job_id uuid,
    asset_index integer NOT NULL,
    -- Listing groups a job's assets together: a copy from the library is its own group.
    group_id uuid GENERATED ALWAYS AS (coalesce(job_id, id)) STORED,
    {asset_columns.DDL},
    library_asset_id uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    UNIQUE (job_id, asset_index)
);
CREATE INDEX IF NOT EXISTS workspace_assets_user_newest
    ON workspace_assets (user_id, created_at DESC, group_id DESC, asset_index);
CREATE INDEX IF NOT EXISTS workspace_assets_expiry ON workspace_assets (expires_at);
"""

_INSERT = f"""
INSERT INTO workspace_assets (
    user_id, id, job_id, asset_index, {asset_columns.LIST}, created_at, expires_at
) VALUES ({", ".join(f"${i}" for i in range(1, len(asset_columns.NAMES) + 7))})
ON CONFLICT DO NOTHING
"""

Arrived = gen.GenerationCompleted | events.AssetAdded


def completed(event: gen.GenerationCompleted, writes: Writes) -> None:
    """The job ends, and each of its files becomes a workspace asset."""
    jobs.completed(event, writes)
    job, spec = event.data.job_id, event.data.spec
    settings = spec.model_dump(mode="json", exclude={"prompt", "negative_prompt", "model"})
    for asset in event.data.assets:
        snapshot = AssetSnapshot.model_construct(  # the event was validated as it decoded
            **asset.model_dump(exclude={"index", "seed"}),
            generation_seed=asset.seed,
            original_prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            model_used=spec.model,
            generation_settings=settings,
        )
        asset_id = gen.generated_asset_id(job, asset.index)
        _insert(writes, event, asset_id, job, asset.index, snapshot)


def added(event: events.AssetAdded, writes: Writes) -> None:
    _insert(writes, event, event.data.asset_id, None, 0, event.data.asset)


def saved(event: events.AssetSaved, writes: Writes) -> None:
    _set_library_asset(writes, event, event.data.library_asset_id)


def unsaved(event: events.AssetUnsaved, writes: Writes) -> None:
    _set_library_asset(writes, event, None)


def left(event: events.AssetDiscarded | events.AssetRemoved | events.AssetExpired, writes):
    writes.add(
        "DELETE FROM workspace_assets WHERE id = $1 AND user_id = $2",
        (event.data.asset_id, event.user_id),
        **_keys(event, event.data.asset_id),
    )


class WorkspaceProjection(TableProjection):
    name = watermarks.WORKSPACE
    former_names = ("workspace_assets",)
    ddl = (DDL, jobs.DDL)
    handlers: ClassVar[WriteHandlers] = {
        gen.GenerationRequested: jobs.requested,
        gen.GenerationStarted: jobs.started,
        gen.GenerationCancelRequested: jobs.cancel_requested,
        gen.GenerationCompleted: completed,
        gen.GenerationFailed: jobs.failed,
        gen.GenerationCancelled: jobs.cancelled,
        events.AssetAdded: added,
        events.AssetSaved: saved,
        events.AssetUnsaved: unsaved,
        **dict.fromkeys(events.LEFT, left),
    }


def lifetime(event: Arrived) -> tuple[datetime, datetime]:
    """When an asset came and when it goes: as its event says (never from the settings of
    the day, so a rebuild gives the same rows whatever they are)."""
    expires_at = event.data.expires_at or event.occurred_at + storage.WORKSPACE_RETENTION
    return event.occurred_at, expires_at


def _insert(writes: Writes, event: Arrived, asset_id, job_id, index: int, snapshot) -> None:
    row = (event.user_id, asset_id, job_id, index, *asset_columns.values(snapshot))
    writes.add(_INSERT, (*row, *lifetime(event)), **_keys(event, asset_id))


def _set_library_asset(writes: Writes, event, library_asset_id) -> None:
    writes.add(
        "UPDATE workspace_assets SET library_asset_id = $3 WHERE id = $1 AND user_id = $2",
        (event.data.asset_id, event.user_id, library_asset_id),
        **_keys(event, event.data.asset_id),
    )


def _keys(event, asset_id) -> dict:
    return {"scope": event.user_id, "keys": (("asset", asset_id),)}
