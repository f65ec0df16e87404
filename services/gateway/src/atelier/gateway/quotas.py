"""A tier's daily quotas, checked at submit after the per-user limits: jobs a day (an exact
counter in JetStream, shared by every gateway replica) and GPU seconds a day (the
scheduler's usage projection: the GPU time of the jobs that completed today)."""

from __future__ import annotations

import logging
import time
import uuid

from nats.aio.client import Client as NatsClient

from atelier.contracts import usage
from atelier.contracts.scheduling import TierPolicy
from atelier.runtime import rpc
from atelier.runtime.limits import DailyJobs, QuotaExceeded

log = logging.getLogger(__name__)


class Quotas:
    def __init__(self, nc: NatsClient, daily: DailyJobs) -> None:
        self.nc, self.daily = nc, daily

    async def admit(self, user_id: uuid.UUID, policy: TierPolicy) -> None:
        """QuotaExceeded when a quota of the user's tier is used up; else the job counts."""
        if policy.gpu_seconds_per_day is not None:
            await self._gpu_time_left(user_id, policy.gpu_seconds_per_day)
        if policy.jobs_per_day is not None:
            await self.daily.admit(user_id, policy.jobs_per_day)

    async def release(self, user_id: uuid.UUID, policy: TierPolicy) -> None:
        """A job counted that was not queued after all."""
        if policy.jobs_per_day is not None:
            await self.daily.release(user_id)

    async def _gpu_time_left(self, user_id: uuid.UUID, limit: float) -> None:
        query = usage.GetUsageToday(user_id=user_id)
        try:
            today = await rpc.call(self.nc, usage.USAGE_TODAY, query, usage.UsageTotals)
        except rpc.RpcError as error:
            # Without the scheduler nothing is dispatched anyway; the job waits in the
            # queue and counts once it has run. Refusing every submit would be worse.
            log.warning("GPU quota not checked", extra={"error": error.detail})
            return
        if today.gpu_seconds >= limit:
            raise QuotaExceeded(
                "gpu_seconds_per_day", round(today.gpu_seconds, 1), limit, time.time()
            )
