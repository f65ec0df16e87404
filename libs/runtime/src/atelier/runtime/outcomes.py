"""A reactor's outcome, recorded once per trigger, however late the trigger comes back.

A message id stops a repeated append only within the stream's duplicate window (two
minutes). A trigger redelivered a day later (a consumer reset after a restore, a deleted
durable consumer created again) must still find its work done. An outcome has a subject
of its own (`…library.{asset}.stored`, `…workspace.{asset}.files_deleted`), and the
outcome of a trigger is the first message on that subject after the trigger's stream
sequence. So a reactor first asks whether that subject has moved past the trigger; if
not, it does its side effect (idempotent: deterministic keys) and appends the outcome
only if the subject is still where it was (a racing replica's append wins, once).

Only the outcome's own subject counts, not the whole aggregate: a library asset saved
again after a deletion lives a second life under the same id, and the first life's late
`files_deleted` is not the second save's `stored`.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.contracts.envelope import Envelope
from atelier.runtime.bus import ConcurrencyConflict, EventBus
from atelier.runtime.consumer import Retry


@dataclass(frozen=True)
class Outcome:
    bus: EventBus
    #: The outcome's subject, and its last sequence when we looked.
    subject: str
    expected: int

    @classmethod
    async def pending(cls, bus: EventBus, subject: str, trigger: int) -> Outcome | None:
        """The outcome still to record on `subject` for the trigger at stream sequence
        `trigger`, or None when one was recorded after it."""
        last = await bus.last_sequence(subject)
        return None if last > trigger else cls(bus, subject, last)

    async def record(self, event: Envelope) -> None:
        """Append `event` (on `subject`) unless another was appended there meanwhile."""
        assert event.subject == self.subject, (event.subject, self.subject)
        try:
            await self.bus.publish(event, expected_last_sequence=self.expected)
        except ConcurrencyConflict as conflict:
            raise Retry(f"{self.subject} changed meanwhile", delay=0.5) from conflict
