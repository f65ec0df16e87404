"""`usage_daily`: per user, UTC day, model and quality, the jobs asked for and how they
ended, what they made and the GPU time they took; `usage_jobs` remembers what each job
asked (its quality) for the outcomes that do not say. A projection of the log like the
others: partitioned by user, rebuilt from the log, each event counted exactly once (the
runner stores its position in the same transaction)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from atelier.contracts import generation as gen
from atelier.contracts.envelope import Envelope
from atelier.runtime.projection import TableProjection, WriteHandlers
from atelier.runtime.writes import Writes

DDL = """
CREATE TABLE IF NOT EXISTS usage_jobs (
    job_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    model text NOT NULL,
    quality text NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_daily (
    user_id uuid NOT NULL,
    day date NOT NULL,
    model text NOT NULL,
    quality text NOT NULL,
    requested integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    cancelled integer NOT NULL DEFAULT 0,
    images integer NOT NULL DEFAULT 0,
    videos integer NOT NULL DEFAULT 0,
    video_seconds double precision NOT NULL DEFAULT 0,
    gpu_seconds double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, model, quality)
);
CREATE INDEX IF NOT EXISTS usage_daily_by_day ON usage_daily (day, user_id);
"""

#: Add to a day's row: ($1 user, $2 day, $3 model, $4 quality, then the counts).
_ADD = """
INSERT INTO usage_daily (
    user_id, day, model, quality, requested, completed, failed, cancelled,
    images, videos, video_seconds, gpu_seconds
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (user_id, day, model, quality) DO UPDATE SET
    requested = usage_daily.requested + excluded.requested,
    completed = usage_daily.completed + excluded.completed,
    failed = usage_daily.failed + excluded.failed,
    cancelled = usage_daily.cancelled + excluded.cancelled,
    images = usage_daily.images + excluded.images,
    videos = usage_daily.videos + excluded.videos,
    video_seconds = usage_daily.video_seconds + excluded.video_seconds,
    gpu_seconds = usage_daily.gpu_seconds + excluded.gpu_seconds
"""

#: An outcome that names no quality: the one its request asked for ($4 is the job).
_ADD_ENDED = """
INSERT INTO usage_daily (user_id, day, model, quality, failed, cancelled)
SELECT $1, $2, $3, quality, $5, $6 FROM usage_jobs WHERE job_id = $4
ON CONFLICT (user_id, day, model, quality) DO UPDATE SET
    failed = usage_daily.failed + excluded.failed,
    cancelled = usage_daily.cancelled + excluded.cancelled
"""


def _day(event: Envelope) -> dt.date:
    return event.occurred_at.astimezone(dt.UTC).date()


def requested(event: gen.GenerationRequested, writes: Writes) -> None:
    data = event.data
    writes.add(
        "INSERT INTO usage_jobs (job_id, user_id, model, quality) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (job_id) DO NOTHING",
        (data.job_id, event.user_id, data.model, data.spec.quality),
        scope=event.user_id,
        keys=[("job", data.job_id)],
    )
    row = (event.user_id, _day(event), data.model, data.spec.quality)
    writes.add(_ADD, (*row, 1, 0, 0, 0, 0, 0, 0.0, 0.0), scope=event.user_id, keys=[row])


def completed(event: gen.GenerationCompleted, writes: Writes) -> None:
    data = event.data
    videos = [asset for asset in data.assets if asset.asset_type == "video"]
    row = (event.user_id, _day(event), data.model, data.spec.quality)
    gpu_seconds = data.inference_seconds if data.gpu_seconds is None else data.gpu_seconds
    counts = (
        0,
        1,
        0,
        0,
        len(data.assets) - len(videos),
        len(videos),
        float(sum(asset.duration_seconds or 0.0 for asset in videos)),
        float(gpu_seconds),
    )
    writes.add(_ADD, (*row, *counts), scope=event.user_id, keys=[row])


def failed(event: gen.GenerationFailed, writes: Writes) -> None:
    _ended(event, writes, failed=1, cancelled=0)


def cancelled(event: gen.GenerationCancelled, writes: Writes) -> None:
    _ended(event, writes, failed=0, cancelled=1)


def _ended(
    event: gen.GenerationFailed | gen.GenerationCancelled,
    writes: Writes,
    *,
    failed: int,
    cancelled: int,
) -> None:
    """Counted under the quality its request asked for (looked up: a barrier within the
    user, so it never moves past the request it reads)."""
    data = event.data
    args = (event.user_id, _day(event), data.model, data.job_id, failed, cancelled)
    writes.add(_ADD_ENDED, args, scope=event.user_id, keys=None)


class UsageProjection(TableProjection):
    name: ClassVar[str] = "usage"
    ddl = (DDL,)
    handlers: ClassVar[WriteHandlers] = {
        gen.GenerationRequested: requested,
        gen.GenerationCompleted: completed,
        gen.GenerationFailed: failed,
        gen.GenerationCancelled: cancelled,
    }
