"""Commands against one aggregate, with optimistic concurrency on the log itself.

The state a command decides on is the aggregate's last event, read fresh from JetStream
(never from a projection, which may lag). The new events are appended only if nobody
appended to the aggregate's subjects in between (`Nats-Expected-Last-Subject-Sequence`
with a per-aggregate wildcard); otherwise the command reads again and decides again,
and the decision may now be a refusal. A conflict is never ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.js.errors import NotFoundError

from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import decode_event
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import ConcurrencyConflict, EventBus
from atelier.runtime.rpc import RpcError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Refused(RpcError):
    """A decision's refusal (not found, conflict), carried to the caller as it is."""


@dataclass(frozen=True)
class LastEvent:
    """What a decision knows of its aggregate: the last event on the log (None: the
    aggregate has none yet) and its stream sequence (0 then), where the append expects
    the aggregate still to be."""

    sequence: int
    event: Envelope | None


@dataclass(frozen=True)
class Decision(Generic[T]):
    events: Sequence[Envelope]
    reply: T


async def read_last_event(bus: EventBus, history_filter: str) -> LastEvent:
    try:
        msg = await bus.js.get_last_msg(EVENTS.name, history_filter)
    except NotFoundError:
        return LastEvent(0, None)
    return LastEvent(msg.seq, decode_event(msg.subject, msg.data))


async def append(
    bus: EventBus, events: Sequence[Envelope], expected: int, history_filter: str
) -> int:
    """Append events in order; the first only if the aggregate is still at `expected`."""
    for event in events:
        expected = await bus.publish(
            event, expected_last_sequence=expected, concurrency_filter=history_filter
        )
    return expected


async def execute(
    bus: EventBus,
    history_filter: str,
    decide: Callable[[LastEvent], Decision[T]],
    *,
    until_shown: Callable[[Envelope, int], Awaitable[object]] | None = None,
    attempts: int = 3,
) -> T:
    """Read, decide, append; on a concurrent append, read and decide again.

    `until_shown(last_event, sequence)` runs after an append, before the reply: the owning
    service waits there until its projection shows the change.
    """
    for _ in range(attempts):
        last = await read_last_event(bus, history_filter)
        decision = decide(last)
        try:
            sequence = await append(bus, decision.events, last.sequence, history_filter)
        except ConcurrencyConflict:
            log.info("concurrent change; deciding again", extra={"aggregate": history_filter})
            continue
        if until_shown and decision.events:
            await until_shown(decision.events[-1], sequence)
        return decision.reply
    raise RpcError(409, "Conflict", "the item keeps changing; reload it and try again")
