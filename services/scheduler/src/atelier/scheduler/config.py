from __future__ import annotations

from pydantic import Field

from atelier.runtime.settings import RuntimeSettings, TierSettings


class SchedulerSettings(RuntimeSettings, TierSettings):
    db_schema: str = "scheduler"
    #: How often a replica checks whether it holds (or can take) the dispatching lease.
    lease_seconds: float = Field(default=2.0, gt=0)
