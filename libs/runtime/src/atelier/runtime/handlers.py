"""One table per consumer: `{event type: handler}`.

A projection or a reactor says once which events it reads and what it does with each;
the subjects it reads and its dispatch both derive from that table, so they cannot drift
apart (and the consumer table of docs/architecture.md is generated from them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atelier.contracts.envelope import Envelope
from atelier.runtime.consumer import Delivery, Handler

EventType = type[Envelope]
#: A reactor's handler: (the reactor, the event, its stream sequence).
ReactorHandler = Callable[[Any, Any, int], Awaitable[None]]


def subject_filters(table: Mapping[EventType, object]) -> tuple[str, ...]:
    """The subjects a consumer of these event types reads: one filter per type."""
    return tuple(dict.fromkeys(event_type.subject_filter() for event_type in table))


def dispatch(table: Mapping[EventType, ReactorHandler], reactor: object) -> Handler:
    """The work consumer's handler: each delivery to the table's handler for its type."""

    async def handle(delivery: Delivery) -> None:
        await table[type(delivery.event)](reactor, delivery.event, delivery.sequence)

    return handle
