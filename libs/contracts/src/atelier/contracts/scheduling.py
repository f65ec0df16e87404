"""The scheduler's language: tiers, what a job costs, workers' capacity, and its queries.

The scheduler (`services/scheduler`) turns `generation.requested` into
`generation.dispatched` in a fair order across users, weighted by each job's estimated
GPU cost and its user's tier, as the model's workers have room (their announced slots).
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from atelier.contracts import subjects
from atelier.contracts.generation import GenerationSpec, Model, Quality, TierName, WorkerId
from atelier.contracts.requests import UserRequest

SERVICE = "scheduler"
QUEUE_POSITION = subjects.rpc(SERVICE, "queue_position")
QUEUE = subjects.rpc(SERVICE, "queue")

#: How often a worker says how many jobs it can hold; a scheduler forgets a worker
#: silent for `CAPACITY_TTL_SECONDS`.
CAPACITY_INTERVAL_SECONDS = 1.0
CAPACITY_TTL_SECONDS = 5.0


class TierPolicy(BaseModel):
    """What a tier of users gets: its share of the GPUs against other tiers' users (a user
    of weight 4 gets four times the GPU work of a user of weight 1 while both wait), how
    many of a user's jobs may run, or be queued or running, at once, and daily quotas
    (None: unlimited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: float = Field(default=1.0, gt=0, le=1000)
    max_running: int | None = Field(default=None, ge=1, le=1000)
    #: Jobs queued or running at once (None: the gateway's MAX_ACTIVE_JOBS_PER_USER).
    max_active_jobs: int | None = Field(default=None, ge=1, le=10000)
    gpu_seconds_per_day: float | None = Field(default=None, gt=0)
    jobs_per_day: int | None = Field(default=None, ge=1)


DEFAULT_TIER = "free"
DEFAULT_TIERS: dict[str, TierPolicy] = {
    "free": TierPolicy(weight=1.0),
    "pro": TierPolicy(weight=4.0),
}


def estimated_cost(spec: GenerationSpec) -> float:
    """The GPU work a job asks for, in megapixel-steps: images x steps x pixels (x frames
    for a video). Only ratios matter: it orders jobs, it does not predict seconds."""
    frames = spec.num_frames or 1
    return spec.num_images * spec.steps * spec.width * spec.height * frames / 1e6


class WorkerCapacity(BaseModel):
    """A worker's announcement (core NATS, `subjects.worker_capacity`): how many jobs it
    can start now (one call's worth while its device is idle, none while a call runs).
    It announces only once warm: a warming worker gets no jobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    worker: WorkerId
    model: Model
    slots: int = Field(ge=0, le=256)


class GetQueuePosition(UserRequest):
    job_id: uuid.UUID


class QueuePosition(BaseModel):
    job_id: uuid.UUID
    #: Jobs of the same model dispatched before it in the fair order; None: not waiting.
    position: int | None


class GetQueue(BaseModel):
    """The whole queue, for an administrator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Model | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class QueuedJob(BaseModel):
    """A job not ended as an administrator sees it: whose, how large, never the prompt."""

    job_id: uuid.UUID
    user_id: uuid.UUID
    model: Model
    quality: Quality
    tier: TierName
    state: Literal["running", "dispatched", "waiting"] = Field(
        description="Running on a worker; handed to the workers, not started; or waiting "
        "for a worker in the fair order"
    )
    position: int | None = Field(description="Jobs that start before it; null when running")
    cost: float
    num_images: int
    width: int
    height: int
    steps: int
    num_frames: int | None
    queued_at: AwareDatetime


class ModelQueue(BaseModel):
    model: Model
    waiting: int = Field(description="Jobs waiting for a worker")
    running: int = Field(description="Jobs dispatched and not ended")
    slots: int = Field(description="Jobs the model's live workers can start now")
    jobs: list[QueuedJob] = Field(
        description="The running jobs, then the others in the order they will start"
    )


class Queue(BaseModel):
    models: list[ModelQueue]
