"""One model's waiting jobs in a fair order across users: start-time fair queueing.

Each job gets a *start tag* when it arrives: the later of the model's virtual time and
the finish tag of its user's previous job; its user's finish tag moves on by the job's
estimated cost divided by the user's weight. Jobs go out lowest start tag first (ties by
arrival), and the virtual time becomes the start tag of the job that went out last.

So a user who queues ten heavy jobs has their tags stretched out ahead, and a user who
arrives later starts at the current virtual time: their job is next, whatever the first
one queued. A user alone gets every slot (nothing is held back while nobody else waits),
and while several wait, each gets GPU work in proportion to their weight. This is the
order deficit round robin gives with an infinitesimal quantum (Goyal et al., "Start-time
fair queueing", 1996), without rounds, and a function of the arrivals and departures
alone: replaying the log gives the same tags.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class WaitingJob:
    job_id: uuid.UUID
    user_id: uuid.UUID
    cost: float
    weight: float
    #: Its place on the log (ties between equal start tags go to the earlier one).
    sequence: int
    start: float = field(default=0.0)

    @property
    def share(self) -> float:
        """How far it moves its user's finish tag."""
        return self.cost / self.weight


class FairQueue:
    def __init__(self) -> None:
        self.virtual_time = 0.0
        self._finish: dict[uuid.UUID, float] = {}
        self._waiting: dict[uuid.UUID, WaitingJob] = {}
        self._per_user: Counter[uuid.UUID] = Counter()
        #: `in_order()`, kept until the queue changes (positions are asked often).
        self._order: list[WaitingJob] | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._waiting

    def get(self, job_id: uuid.UUID) -> WaitingJob | None:
        return self._waiting.get(job_id)

    def add(self, job: WaitingJob) -> None:
        """A job arrives: its start tag follows its user's previous one."""
        self._order = None
        job.start = max(self.virtual_time, self._finish.get(job.user_id, 0.0))
        self._finish[job.user_id] = job.start + job.share
        self._waiting[job.job_id] = job
        self._per_user[job.user_id] += 1

    def take(self, job_id: uuid.UUID) -> WaitingJob | None:
        """The job went to a worker: the virtual time moves to its start tag."""
        job = self._forget(job_id)
        if job is not None:
            self.virtual_time = max(self.virtual_time, job.start)
            self._drop_idle_users()
        return job

    def remove(self, job_id: uuid.UUID) -> WaitingJob | None:
        """The job left without running (cancelled): its user's later jobs move up by its
        share, so a cancelled job costs its user nothing."""
        job = self._forget(job_id)
        if job is None:
            return None
        for other in self._waiting.values():
            if other.user_id == job.user_id and other.start > job.start:
                other.start -= job.share
        self._finish[job.user_id] -= job.share
        return job

    def idle(self) -> None:
        """The model's workers have nothing to do (nothing waits, nothing runs): a new busy
        period begins, in which what was served before weighs on nobody. The virtual time
        moves past every finish tag and the users are forgotten (memory stays bounded)."""
        self.virtual_time = max([self.virtual_time, *self._finish.values()])
        self._finish.clear()

    def in_order(self) -> list[WaitingJob]:
        """Every waiting job, the next to go out first."""
        if self._order is None:
            self._order = sorted(self._waiting.values(), key=lambda job: (job.start, job.sequence))
        return self._order

    def _forget(self, job_id: uuid.UUID) -> WaitingJob | None:
        job = self._waiting.pop(job_id, None)
        self._order = None
        if job is not None:
            self._per_user[job.user_id] -= 1
            if not self._per_user[job.user_id]:
                del self._per_user[job.user_id]
        return job

    def _drop_idle_users(self) -> None:
        """A user with nothing waiting whose finish tag the virtual time has passed starts
        from the virtual time next time anyway: forget them."""
        for user in [u for u, f in self._finish.items() if f <= self.virtual_time]:
            if user not in self._per_user:
                del self._finish[user]
