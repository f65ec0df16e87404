"""`generation_jobs`: the status of every job, projected from generation events (part of
the workspace projection, so a rebuild recreates it with the assets), and the query that
answers `GET /v1/generations/{job_id}`."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from nats.aio.client import Client as NatsClient

from atelier.contracts import generation as gen
from atelier.contracts import jobs as api
from atelier.contracts import subjects
from atelier.contracts.generation import generated_asset_id
from atelier.contracts.progress import StepProgress
from atelier.runtime import cursors
from atelier.runtime.bus import EventBus
from atelier.runtime.rpc import RpcError
from atelier.runtime.writes import Writes

DDL = """
CREATE TABLE IF NOT EXISTS generation_jobs (
    job_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    model text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    cancel_requested boolean NOT NULL DEFAULT false,
    spec jsonb NOT NULL,
    queued_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    error text,
    asset_ids uuid[] NOT NULL DEFAULT '{}',
    remix_of jsonb
);
-- Tables made before remixes: the column is added (a rebuild makes it anew anyway).
ALTER TABLE generation_jobs ADD COLUMN IF NOT EXISTS remix_of jsonb;
CREATE INDEX IF NOT EXISTS generation_jobs_queue
    ON generation_jobs (model, queued_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS generation_jobs_by_user
    ON generation_jobs (user_id, queued_at DESC, job_id DESC);
"""

#: A job's row with its place in its model's queue (while queued).
_SELECT = (
    "SELECT *, CASE WHEN status = 'queued' THEN ("
    "  SELECT count(*) FROM generation_jobs ahead WHERE ahead.status = 'queued'"
    "  AND ahead.model = j.model AND (ahead.queued_at, ahead.job_id)"
    "  < (j.queued_at, j.job_id)) END AS queue_position "
    "FROM generation_jobs j "
)
#: A user's jobs newest first, optionally of some states only, after a keyset cursor.
_LIST = (
    _SELECT + "WHERE user_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2)) "
    "AND ($3::timestamptz IS NULL OR (queued_at, job_id) < ($3, $4)) "
    "ORDER BY queued_at DESC, job_id DESC LIMIT $5"
)

#: A job's row only moves forward: an outcome is final, whatever arrives after it.
_OPEN = "status IN ('queued', 'running')"


def requested(event: gen.GenerationRequested, writes: Writes) -> None:
    writes.add(
        "INSERT INTO generation_jobs (job_id, user_id, model, status, spec, queued_at, "
        "remix_of) VALUES ($1, $2, $3, 'queued', $4, $5, $6) ON CONFLICT (job_id) DO NOTHING",
        (
            event.data.job_id,
            event.user_id,
            event.data.model,
            event.data.spec.model_dump(mode="json"),
            event.occurred_at,
            event.data.remix_of and event.data.remix_of.model_dump(mode="json", exclude_none=True),
        ),
        **_keys(event),
    )


def started(event: gen.GenerationStarted, writes: Writes) -> None:
    writes.add(
        f"UPDATE generation_jobs SET status = 'running', attempts = $2, "
        f"started_at = coalesce(started_at, $3) WHERE job_id = $1 AND {_OPEN}",
        (event.data.job_id, event.data.attempt, event.occurred_at),
        **_keys(event),
    )


def cancel_requested(event: gen.GenerationCancelRequested, writes: Writes) -> None:
    writes.add(
        "UPDATE generation_jobs SET cancel_requested = true WHERE job_id = $1",
        (event.data.job_id,),
        **_keys(event),
    )


def completed(event: gen.GenerationCompleted, writes: Writes) -> None:
    job = event.data.job_id
    ids = [generated_asset_id(job, asset.index) for asset in event.data.assets]
    _finish(writes, event, "completed", asset_ids=ids)


def failed(event: gen.GenerationFailed, writes: Writes) -> None:
    _finish(writes, event, "failed", error=event.data.reason)


def cancelled(event: gen.GenerationCancelled, writes: Writes) -> None:
    _finish(writes, event, "cancelled")


def _finish(writes: Writes, event, status: str, *, error=None, asset_ids=()) -> None:
    writes.add(
        f"UPDATE generation_jobs SET status = $2, finished_at = $3, error = $4, "
        f"asset_ids = $5 WHERE job_id = $1 AND {_OPEN}",
        (event.data.job_id, status, event.occurred_at, error, list(asset_ids)),
        **_keys(event),
    )


def _keys(event) -> dict:
    return {"scope": event.user_id, "keys": (("job", event.data.job_id),)}


class LatestProgress:
    """The last step progress of each running job, from core NATS (ephemeral, bounded)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._latest: OrderedDict = OrderedDict()

    async def follow(self, nc: NatsClient) -> None:
        async def on_progress(msg) -> None:
            progress = StepProgress.model_validate_json(msg.data)
            self._latest[progress.job_id] = progress
            self._latest.move_to_end(progress.job_id)
            while len(self._latest) > self.limit:
                self._latest.popitem(last=False)

        await nc.subscribe(f"{subjects.PROGRESS_ROOT}.>", cb=on_progress)

    def of(self, job_id) -> StepProgress | None:
        return self._latest.get(job_id)


@dataclass
class JobQueries:
    pool: asyncpg.Pool
    bus: EventBus
    progress: LatestProgress
    #: Waits until the projection has applied a log position for a user's partition
    #: (read-your-writes).
    wait_for: Callable[[int, uuid.UUID], Awaitable[bool]]

    async def get_job(self, query: api.GetJob) -> api.JobStatus:
        row = await self._row(query)
        if row is None:
            # Just submitted? The log knows; let the projection catch up with it.
            history = subjects.generation_history(query.user_id, query.job_id)
            sequence = await self.bus.last_sequence(history)
            if not sequence:
                raise RpcError(404, "Not Found", "no such generation")
            await self.wait_for(sequence, query.user_id)
            row = await self._row(query)
            if row is None:
                raise RpcError(503, "Service Unavailable", "the job is being recorded; retry")
        return self._status(row)

    async def list_jobs(self, query: api.ListJobs) -> api.JobPage:
        after = cursors.decode(query.cursor, datetime, uuid.UUID) if query.cursor else (None, None)
        rows = await self.pool.fetch(
            _LIST, query.user_id, list(query.status), *after, query.limit + 1
        )
        page, next_cursor = cursors.page(rows, query.limit, lambda r: (r["queued_at"], r["job_id"]))
        return api.JobPage(items=[self._status(row) for row in page], next_cursor=next_cursor)

    def _status(self, row: asyncpg.Record) -> api.JobStatus:
        status = api.JobStatus(**{k: v for k, v in row.items() if k in api.JobStatus.model_fields})
        if status.status == "running":
            status.progress = self.progress.of(status.job_id)
        return status

    async def _row(self, query: api.GetJob) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            _SELECT + "WHERE job_id = $1 AND user_id = $2", query.job_id, query.user_id
        )
