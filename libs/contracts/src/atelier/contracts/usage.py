"""Usage accounting: what each user's jobs asked for and used, per day, model and quality
(the scheduler's `usage` projection), and the queries that read it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from atelier.contracts import subjects
from atelier.contracts.generation import Model, Quality
from atelier.contracts.requests import Cursor
from atelier.contracts.scheduling import SERVICE

GET_USAGE = subjects.rpc(SERVICE, "usage")

#: The longest range one question may span.
MAX_DAYS = 366


class GetUsage(BaseModel):
    """One user's usage (`user_id`), or every user's (None: an administrator), over the
    days `from_day` … `to_day` (UTC, both included)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID | None
    from_day: dt.date
    to_day: dt.date
    limit: int = Field(default=500, ge=1, le=1000)
    cursor: Cursor | None = None

    @model_validator(mode="after")
    def _a_range(self) -> Self:
        if self.to_day < self.from_day:
            raise ValueError("to must not be before from")
        if (self.to_day - self.from_day).days >= MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days at once")
        return self


class UsageRow(BaseModel):
    user_id: uuid.UUID
    day: dt.date
    model: Model
    quality: Quality
    requested: int = Field(description="Jobs asked for that day")
    completed: int
    failed: int
    cancelled: int
    images: int
    videos: int
    video_seconds: float
    gpu_seconds: float = Field(description="The GPU time of its completed jobs")


class UsageTotals(BaseModel):
    requested: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    images: int = 0
    videos: int = 0
    video_seconds: float = 0.0
    gpu_seconds: float = 0.0

    @classmethod
    def of(cls, rows: list[UsageRow]) -> UsageTotals:
        fields = cls.model_fields
        return cls(**{name: sum(getattr(row, name) for row in rows) for name in fields})


class UsagePage(BaseModel):
    items: list[UsageRow] = Field(description="By day, user, model and quality")
    totals: UsageTotals = Field(description="Of this page's rows")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class GetUsageToday(BaseModel):
    """What the gateway asks before admitting a job of a tier with a GPU-time quota."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID


USAGE_TODAY = subjects.rpc(SERVICE, "usage_today")
