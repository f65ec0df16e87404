"""What the scheduler answers: a job's place in the fair order, and (for administrators,
through the gateway) the whole queue without prompts."""

from __future__ import annotations

import asyncio
import uuid

from atelier.contracts.scheduling import (
    GetQueue,
    GetQueuePosition,
    ModelQueue,
    Queue,
    QueuedJob,
    QueuePosition,
    estimated_cost,
)
from atelier.runtime.rpc import RpcError
from atelier.scheduler.capacity import Capacity
from atelier.scheduler.dispatcher import Dispatcher
from atelier.scheduler.state import SchedulerState

#: How long a query waits for the log to be read (start-up), or for a job just submitted
#: to be read, before it answers.
WAIT_SECONDS = 2.0


class SchedulerQueries:
    def __init__(self, dispatcher: Dispatcher, capacity: Capacity) -> None:
        self.dispatcher, self.capacity = dispatcher, capacity

    async def queue_position(self, query: GetQueuePosition) -> QueuePosition:
        await self._caught_up()
        # The gateway asks about a job the workspace shows queued: one this replica has
        # not read yet was submitted a moment ago.
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while query.job_id not in self.dispatcher.state.jobs:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        state = self.dispatcher.state
        job = state.jobs.get(query.job_id)
        if job is None or job.user_id != query.user_id:
            return QueuePosition(job_id=query.job_id, position=None)
        return QueuePosition(job_id=query.job_id, position=state.position(query.job_id))

    async def queue(self, query: GetQueue) -> Queue:
        await self._caught_up()
        state = self.dispatcher.state
        models = sorted(state.queues) if query.model is None else [query.model]
        answer = []
        for model in models:
            running, line = state.started(model), state.line(model)
            jobs = [_shown(state, job_id, None) for job_id in running]
            jobs += [_shown(state, job_id, n) for n, job_id in enumerate(line)]
            answer.append(
                ModelQueue(
                    model=model,
                    waiting=len(state.queue(model)),
                    running=state.running(model),
                    slots=self.capacity.slots(model),
                    jobs=jobs[: query.limit],
                )
            )
        return Queue(models=answer)

    async def _caught_up(self) -> None:
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await self.dispatcher.caught_up.wait()
        except TimeoutError:
            raise RpcError(503, "Service unavailable", "the scheduler is reading the log") from None


def _shown(state: SchedulerState, job_id: uuid.UUID, position: int | None) -> QueuedJob:
    """A job as an administrator sees it: never its prompt."""
    job = state.jobs[job_id]
    spec = job.request.data.spec
    shown_as = "running" if job.started else "dispatched" if job.dispatched else "waiting"
    return QueuedJob(
        job_id=job_id,
        user_id=job.user_id,
        model=spec.model,
        quality=spec.quality,
        tier=job.tier,
        state=shown_as,
        position=position,
        cost=round(estimated_cost(spec), 6),
        num_images=spec.num_images,
        width=spec.width,
        height=spec.height,
        steps=spec.steps,
        num_frames=spec.num_frames,
        queued_at=job.queued_at,
    )
