"""Per-user limits that hold across every gateway replica: JetStream counters.

A counter subject (`Nats-Incr`) is incremented atomically by the server, which answers
with the new total, so N replicas admitting at once cannot overshoot. Active jobs are
counted up when a job is admitted and down when its outcome is on the log (the workspace
service's reactor); message ids make each of those happen once per job.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from nats.js.client import JetStreamContext

from atelier.contracts import subjects


class LimitExceeded(Exception):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class UserLimits:
    max_active_jobs: int
    submits_per_minute: int


class Limits:
    def __init__(self, js: JetStreamContext, limits: UserLimits) -> None:
        self.js = js
        self.limits = limits

    async def admit(self, user_id: uuid.UUID, job_id: uuid.UUID) -> None:
        """Count one submit and one active job; LimitExceeded (and nothing counted as
        active) when either limit is passed."""
        now = time.time()
        submits = await _add(self.js, subjects.submits_in_minute(user_id, int(now // 60)), 1)
        if submits > self.limits.submits_per_minute:
            raise LimitExceeded(
                f"at most {self.limits.submits_per_minute} submits a minute",
                retry_after=max(1, int(60 - now % 60) + 1),
            )
        active = await _add(self.js, subjects.active_jobs(user_id), 1, f"{job_id}:admitted")
        if active > self.limits.max_active_jobs:
            await release(self.js, user_id, job_id)
            raise LimitExceeded(
                f"at most {self.limits.max_active_jobs} jobs queued or running at once",
                retry_after=5,
            )

    async def release(self, user_id: uuid.UUID, job_id: uuid.UUID) -> None:
        await release(self.js, user_id, job_id)


async def release(js: JetStreamContext, user_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """The job has ended (or was never queued): it no longer counts as active. Once per
    job: the message id makes a second release of the same job a no-op."""
    await _add(js, subjects.active_jobs(user_id), -1, f"{job_id}:released")


async def _add(js: JetStreamContext, subject: str, delta: int, msg_id: str | None = None) -> int:
    """Add `delta` to a counter subject; the new total (0 for a deduplicated repeat).
    (A counter publish may not name its stream: the subject decides.)"""
    headers = {"Nats-Incr": str(delta)}
    if msg_id:
        headers["Nats-Msg-Id"] = msg_id
    ack = await js.publish(subject, b"", headers=headers)
    return int(ack.val) if ack.val is not None else 0
