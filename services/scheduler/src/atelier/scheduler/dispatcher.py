"""The scheduler's loop: fold the generation events, and while this replica is the active
one, append its decisions.

Every replica reads the log (so a standby answers queries and takes over at once); one
holds the lease (a PostgreSQL advisory lock) and decides. A decision is appended with the
job's last sequence expected on the job's subjects, so a job is dispatched at most once
even while two replicas both believe they are active (a lease lost with its connection,
not yet noticed), and never after its cancellation. The outcome for a job cancelled
while it waited has the same message id a worker would give it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from atelier.contracts import generation as gen
from atelier.contracts import subjects
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.contracts.scheduling import SERVICE, TierPolicy
from atelier.contracts.streams import EVENTS
from atelier.runtime import tracing
from atelier.runtime.bus import ConcurrencyConflict, EventBus
from atelier.runtime.dead_letters import dead_letter
from atelier.runtime.lifecycle import wait_all
from atelier.runtime.log_reader import LogMessage, read_after
from atelier.scheduler.capacity import Capacity
from atelier.scheduler.metrics import DISPATCHED, QUEUED, SLOTS
from atelier.scheduler.state import READS, CancelWaiting, Decision, Dispatch, SchedulerState

log = logging.getLogger(__name__)

#: The subjects the scheduler reads.
FILTERS = sorted({subjects.generation_events(event.name) for event in READS})


class Dispatcher:
    def __init__(
        self,
        bus: EventBus,
        capacity: Capacity,
        tiers: Mapping[str, TierPolicy],
        default_tier: str,
        is_active: Callable[[], bool],
        *,
        idle_wait: float = 0.5,
    ) -> None:
        self.bus, self.capacity, self.is_active = bus, capacity, is_active
        self.tiers, self.default_tier = dict(tiers), default_tier
        self.idle_wait = idle_wait
        self.state = SchedulerState(self.tiers, default_tier)
        #: Set once the log has been read to its end (queries answer only then).
        self.caught_up = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log, and decide as it moves and as workers free up, until `stop`."""
        await wait_all(stop, self._read(stop), self._on_capacity(stop))

    async def _on_capacity(self, stop: asyncio.Event) -> None:
        """A worker that can start more (its call ended) is given jobs at once, not at the
        reader's next idle wake-up."""
        grown = self.capacity.grown
        while not stop.is_set():
            waits = {asyncio.ensure_future(grown.wait()), asyncio.ensure_future(stop.wait())}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            grown.clear()
            await self.decide()

    async def decide(self) -> None:
        """On the active replica, with the log read to its end: make and append the
        decisions the state calls for."""
        if self.caught_up.is_set() and self.is_active():
            await self.act(self.state.decide(self.capacity.all_slots()))

    async def _read(self, stop: asyncio.Event) -> None:
        """Follow the log until `stop`; after a failure (a server restarting, a message
        lost on the way), read it again from the start into a fresh state."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self._follow(stop)
            except Exception as error:
                log.warning("scheduler reader failed; reading again", extra={"error": repr(error)})
                self.caught_up.clear()
                self.state = SchedulerState(self.tiers, self.default_tier)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _follow(self, stop: asyncio.Event) -> None:
        batches = read_after(
            self.bus.js, EVENTS.name, FILTERS, self.state.sequence, stop,
            batch_size=500, idle_wait=self.idle_wait,
        )  # fmt: skip
        async for batch in batches:
            for msg in batch:
                await self._fold(msg)
            if batch and batch[-1].pending:
                continue  # not at the end of the log yet: decide on what is current
            self.caught_up.set()
            self._observe()
            await self.decide()

    async def _fold(self, msg: LogMessage) -> None:
        """Fold one event in; one that cannot be decoded, or folded, is dead-lettered and
        the scheduler goes on (the same on every replica and every replay)."""
        try:
            event = decode_event(msg.subject, msg.data)
        except UndecodableEvent as error:
            await dead_letter(self.bus.js, SERVICE, msg, str(error), "undecodable")
            self.state.sequence = msg.sequence
            return
        try:
            self.state.apply(event, msg.sequence, msg.headers)
        except Exception as error:
            log.exception("event not folded", extra={"seq": msg.sequence})
            reason = f"cannot be applied: {type(error).__name__}: {error}"
            await dead_letter(self.bus.js, SERVICE, msg, reason, "unappliable")
            self.state.sequence = msg.sequence

    async def act(self, decisions: list[Decision]) -> None:
        """Append the decisions together; one the log refuses is left to what it says."""
        await asyncio.gather(*(self._append(decision) for decision in decisions))

    async def _append(self, decision: Decision) -> None:
        job = decision.job
        request = job.request
        if isinstance(decision, Dispatch):
            data = gen.GenerationDispatchedData(
                job_id=request.data.job_id,
                model=request.data.model,
                spec=request.data.spec,
                tier=job.tier,
                cost=round(decision.cost, 6),
            )
            event = gen.GenerationDispatched.create(
                source=SERVICE, user_id=request.user_id, data=data, causation=request
            )
        else:
            assert isinstance(decision, CancelWaiting)
            data = gen.GenerationCancelledData(
                job_id=request.data.job_id, model=request.data.model, at_step=None
            )
            event = gen.GenerationCancelled.create(
                source=SERVICE, user_id=request.user_id, data=data, causation=request
            )
        history = subjects.generation_history(request.user_id, request.data.job_id)
        try:
            # in the request's trace: one generation is one trace, its wait included
            with tracing.process_span(request.type, request.subject, job.headers, group=SERVICE):
                await self.bus.publish(
                    event, expected_last_sequence=decision.expected, concurrency_filter=history
                )
        except ConcurrencyConflict:
            self.state.undecided(request.data.job_id)  # the log tells what happened instead
        except Exception as error:
            extra = {"job": str(request.data.job_id), "error": repr(error)}
            log.warning("decision not appended", extra=extra)
            self.state.undecided(request.data.job_id)
        else:
            if isinstance(decision, Dispatch):
                DISPATCHED.labels(request.data.model, job.tier).inc()

    def _observe(self) -> None:
        for model, queue in self.state.queues.items():
            QUEUED.labels(model).set(len(queue))
            SLOTS.labels(model).set(self.capacity.slots(model))
