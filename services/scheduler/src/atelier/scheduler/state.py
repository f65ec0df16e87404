"""The scheduler's state, a fold of the generation events in log order, and its decisions.

State changes only when an event is read back from the log, never when a decision is
made: so a replica that replays the log, or takes over from another, holds exactly the
state the active one held. A decision made and not yet read back is *pending*; it
counts against the model's slots and its user's running jobs, so it is not made twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from atelier.contracts import generation as gen
from atelier.contracts.envelope import Envelope
from atelier.contracts.scheduling import DEFAULT_TIER, TierPolicy, estimated_cost
from atelier.scheduler.fair_queue import FairQueue, WaitingJob


@dataclass
class Job:
    """A job that has not ended: its request, and the sequence of its last event (what a
    decision about it expects, so that it is appended only if nothing happened since)."""

    request: gen.GenerationRequested
    tier: str
    last_sequence: int
    queued_at: datetime
    #: The request's message headers: its trace, which the dispatch continues.
    headers: Mapping[str, str] | None = None
    #: The sequence of its `dispatched` (or, from before the scheduler, `started`).
    dispatched_at: int | None = None
    started: bool = False
    cancel_asked: bool = False

    @property
    def user_id(self) -> uuid.UUID:
        return self.request.user_id

    @property
    def model(self) -> str:
        return self.request.data.model

    @property
    def dispatched(self) -> bool:
        return self.dispatched_at is not None


@dataclass(frozen=True)
class Dispatch:
    job: Job
    cost: float
    #: The job's last sequence when decided: appended only if it is still the last.
    expected: int


@dataclass(frozen=True)
class CancelWaiting:
    """A job cancelled while it waited: no worker will see it, so the scheduler records
    its outcome."""

    job: Job
    expected: int


Decision = Dispatch | CancelWaiting

#: What the scheduler reads besides the requests: what moves a job on or ends it.
FOLLOWED = (
    gen.GenerationDispatched,
    gen.GenerationStarted,
    gen.GenerationCancelRequested,
    *gen.OUTCOMES,
)
READS = (gen.GenerationRequested, *FOLLOWED)


class SchedulerState:
    def __init__(self, tiers: Mapping[str, TierPolicy], default_tier: str = DEFAULT_TIER) -> None:
        self.tiers = dict(tiers)
        self.default_tier = default_tier
        self.queues: dict[str, FairQueue] = {}
        self.jobs: dict[uuid.UUID, Job] = {}
        #: Decisions made and not yet read back from the log, in the order they were made.
        self.pending: dict[uuid.UUID, None] = {}
        #: The last sequence folded in.
        self.sequence = 0

    # -- the fold -------------------------------------------------------------------------

    def apply(
        self, event: Envelope, sequence: int, headers: Mapping[str, str] | None = None
    ) -> None:
        """Fold one event in (`headers`: its message's, kept for a request's trace)."""
        self.sequence = sequence
        if isinstance(event, gen.GenerationRequested):
            self._arrived(event, sequence, headers)
            return
        if not isinstance(event, FOLLOWED):
            return
        job_id = event.data.job_id
        job = self.jobs.get(job_id)
        if job is None:  # a job that ended, or one this log never asked for
            return
        job.last_sequence = sequence
        if isinstance(event, gen.OUTCOMES):
            self.queue(job.model).remove(job_id)
            del self.jobs[job_id]
            self.pending.pop(job_id, None)
            if not any(other.model == job.model for other in self.jobs.values()):
                self.queue(job.model).idle()  # a busy period of its workers has ended
        elif isinstance(event, gen.GenerationDispatched | gen.GenerationStarted):
            # `started` without `dispatched`: a job a worker took before the scheduler
            # existed (an upgrade); it runs all the same.
            self.queue(job.model).take(job_id)
            job.dispatched_at = job.dispatched_at or sequence
            job.started = job.started or isinstance(event, gen.GenerationStarted)
            self.pending.pop(job_id, None)
        elif isinstance(event, gen.GenerationCancelRequested):
            job.cancel_asked = True

    def _arrived(
        self, event: gen.GenerationRequested, sequence: int, headers: Mapping[str, str] | None
    ) -> None:
        job_id = event.data.job_id
        if job_id in self.jobs:
            return
        tier = event.data.tier if event.data.tier in self.tiers else self.default_tier
        weight = self.tiers[tier].weight if tier in self.tiers else 1.0
        self.jobs[job_id] = Job(event, tier, sequence, event.occurred_at, headers)
        waiting = WaitingJob(
            job_id, event.user_id, estimated_cost(event.data.spec), weight, sequence
        )
        self.queue(event.data.model).add(waiting)

    def queue(self, model: str) -> FairQueue:
        return self.queues.setdefault(model, FairQueue())

    # -- what it shows ---------------------------------------------------------------------

    def position(self, job_id: uuid.UUID) -> int | None:
        """Jobs of its model that start before it; None once it has started (or ended)."""
        job = self.jobs.get(job_id)
        if job is None or job.started:
            return None
        return self.line(job.model).index(job_id)

    def line(self, model: str) -> list[uuid.UUID]:
        """The jobs of `model` that have not started, in the order they will: those handed
        to the workers (in the order they were), those being handed out, then the waiting
        ones in the fair order."""
        handed_out = sorted(
            (job.dispatched_at, job_id)
            for job_id, job in self.jobs.items()
            if job.model == model and job.dispatched_at is not None and not job.started
        )
        line = [job_id for _, job_id in handed_out]
        line += [p for p in self.pending if self.jobs[p].model == model]
        waiting = self.queue(model).in_order()
        return line + [w.job_id for w in waiting if w.job_id not in self.pending]

    def started(self, model: str) -> list[uuid.UUID]:
        """The jobs of `model` running now, the first started first."""
        running = sorted(
            (job.dispatched_at or 0, job_id)
            for job_id, job in self.jobs.items()
            if job.model == model and job.started
        )
        return [job_id for _, job_id in running]

    def running(self, model: str) -> int:
        """Jobs of `model` dispatched (or being dispatched) and not ended."""
        return sum(
            1
            for job_id, job in self.jobs.items()
            if job.model == model and (job.dispatched_at is not None or job_id in self.pending)
        )

    # -- decisions -------------------------------------------------------------------------

    def unstarted(self, model: str) -> int:
        """Jobs of `model` handed to the workers (or being handed) that have not started:
        they take the free slots the workers announced."""
        return sum(
            1
            for job_id, job in self.jobs.items()
            if job.model == model and not job.started and (job.dispatched or job_id in self.pending)
        )

    def decide(self, slots: Mapping[str, int]) -> list[Decision]:
        """What to do now: cancel the waiting jobs whose cancellation was asked, and
        dispatch, per model, as many jobs as its workers can start now (`slots`: what they
        announced, less the jobs handed to them that have not started), in the fair
        order, skipping users at their tier's cap of running jobs."""
        decisions: list[Decision] = [
            CancelWaiting(job, job.last_sequence)
            for job_id, job in self.jobs.items()
            if job.cancel_asked and job.dispatched_at is None and job_id not in self.pending
        ]
        running_per_user = Counter(
            job.user_id
            for job_id, job in self.jobs.items()
            if job.dispatched_at is not None or job_id in self.pending
        )
        for model, queue in self.queues.items():
            free = slots.get(model, 0) - self.unstarted(model)
            if free <= 0 or not queue:
                continue
            for waiting in queue.in_order():
                if free <= 0:
                    break
                job = self.jobs[waiting.job_id]
                if waiting.job_id in self.pending or job.cancel_asked:
                    continue
                cap = self.tiers[job.tier].max_running if job.tier in self.tiers else None
                if cap is not None and running_per_user[job.user_id] >= cap:
                    continue
                decisions.append(Dispatch(job, waiting.cost, job.last_sequence))
                running_per_user[job.user_id] += 1
                free -= 1
        for decision in decisions:
            self.pending[decision.job.request.data.job_id] = None
        return decisions

    def undecided(self, job_id: uuid.UUID) -> None:
        """A decision that was not appended (the job changed meanwhile, or the append
        failed): the log says what happened instead."""
        self.pending.pop(job_id, None)
