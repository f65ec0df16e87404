"""A generation job as the API shows it: `GET /v1/generations/{job_id}`, and the user's
jobs, newest first: `GET /v1/generations`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from atelier.contracts import subjects
from atelier.contracts.generation import RemixOf
from atelier.contracts.progress import StepProgress
from atelier.contracts.requests import PageRequest, UserRequest

GET_JOB = subjects.rpc("workspace", "get_job")
LIST_JOBS = subjects.rpc("workspace", "list_jobs")

JobStatusName = Literal["queued", "running", "completed", "failed", "cancelled"]


class GetJob(UserRequest):
    job_id: uuid.UUID


class ListJobs(PageRequest):
    #: Only jobs in these states (all when empty), e.g. the active ones after a reload.
    status: tuple[JobStatusName, ...] = ()


class JobStatus(BaseModel):
    job_id: uuid.UUID
    model: str
    status: JobStatusName
    cancel_requested: bool = False
    progress: StepProgress | None = Field(default=None, description="While running")
    queue_position: int | None = Field(
        default=None, description="While queued: jobs of the same model ahead of it"
    )
    queued_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    attempts: int = 0
    error: str | None = None
    asset_ids: list[uuid.UUID] = Field(default_factory=list)
    spec: dict[str, Any]
    remix_of: RemixOf | None = Field(
        default=None, description="The asset whose settings the job started from"
    )


class JobPage(BaseModel):
    items: list[JobStatus]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
