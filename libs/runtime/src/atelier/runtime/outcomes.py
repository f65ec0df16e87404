"""A reactor's outcome, recorded once per trigger, however late the trigger comes back.

A message id stops a repeated append only within the stream's duplicate window (two
minutes). A trigger redelivered a day later (a consumer reset, a restore, a replica that
was paused) must still find its work done: the outcome lives on an aggregate (the library
asset a save creates, the workspace asset whose files a discard deletes), and whatever
that aggregate records after the trigger is this outcome, or something that supersedes
it (a deleted asset saved again). So a reactor first asks whether the aggregate has moved
past the trigger; if not, it does its side effect (idempotent: deterministic keys) and
appends the outcome only if the aggregate is still where it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.contracts.envelope import Envelope
from atelier.runtime.bus import ConcurrencyConflict, EventBus
from atelier.runtime.consumer import Retry


@dataclass(frozen=True)
class Outcome:
    bus: EventBus
    #: The aggregate's subjects (a wildcard over its events).
    history_filter: str
    #: Its last sequence when we looked: the outcome is appended only if it still is.
    expected: int

    @classmethod
    async def pending(cls, bus: EventBus, history_filter: str, trigger: int) -> Outcome | None:
        """The outcome still to record for the trigger at stream sequence `trigger`, or
        None when the aggregate has moved past it (recorded already, or superseded)."""
        last = await bus.last_sequence(history_filter)
        return None if last > trigger else cls(bus, history_filter, last)

    async def record(self, event: Envelope) -> None:
        """Append `event` unless the aggregate moved meanwhile (then look again later)."""
        try:
            await self.bus.publish(
                event, expected_last_sequence=self.expected, concurrency_filter=self.history_filter
            )
        except ConcurrencyConflict as conflict:
            raise Retry(f"{self.history_filter} changed meanwhile", delay=0.5) from conflict
