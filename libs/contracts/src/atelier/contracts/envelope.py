"""The envelope every event on the log carries.

Attribute names follow CloudEvents 1.0 where they fit (`type`, `source`, `subject`
is derived); `event_id`, `occurred_at`, `correlation_id` and `causation_id` are the
design's names for `id`, `time` and the causal chain.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from atelier.contracts import subjects
from atelier.contracts.text import SingleLineText


class Envelope(BaseModel, ABC):
    """Base class of every event. Subclasses fix `type` and define `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Version of the `data` schema; a consumer refuses versions it does not know.
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID
    type: SingleLineText
    schema_version: int = Field(ge=1)
    source: SingleLineText = Field(
        min_length=1, max_length=64, description="The service that emitted it"
    )
    occurred_at: AwareDatetime
    user_id: uuid.UUID = Field(description="The user whose data this event changes")
    correlation_id: uuid.UUID = Field(description="The request this event ultimately serves")
    causation_id: uuid.UUID | None = Field(
        default=None, description="The event or command that caused this one"
    )

    @classmethod
    def create(
        cls,
        *,
        source: str,
        user_id: uuid.UUID,
        data: BaseModel,
        correlation_id: uuid.UUID | None = None,
        causation: Envelope | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        """A new event; correlation flows from the causing event when one is given."""
        event_id = uuid.uuid4()
        if correlation_id is None:
            correlation_id = causation.correlation_id if causation else event_id
        return cls(
            event_id=event_id,
            type=cls.model_fields["type"].default,
            schema_version=cls.SCHEMA_VERSION,
            source=source,
            occurred_at=occurred_at or datetime.now(UTC),
            user_id=user_id,
            correlation_id=correlation_id,
            causation_id=causation.event_id if causation else None,
            data=data,
        )

    @property
    @abstractmethod
    def subject(self) -> str:
        """The NATS subject this event is published on."""

    @classmethod
    @abstractmethod
    def subject_filter(cls) -> str:
        """The subjects of every event of this type, of every user."""

    @property
    @abstractmethod
    def dedup_id(self) -> str:
        """A deterministic `Nats-Msg-Id`: retries of the same fact never append twice."""


class AggregateEvent(Envelope):
    """An event of a workspace asset, library asset or collection.

    Its message id names the fact: the aggregate, the event, and what caused it (the
    triggering event for a reactor's outcome, else the event itself), so a reactor that
    runs twice for one trigger appends its outcome once.
    """

    kind: ClassVar[str]
    name: ClassVar[str]

    @property
    @abstractmethod
    def aggregate_id(self) -> uuid.UUID: ...

    @property
    def subject(self) -> str:
        return subjects.aggregate(self.user_id, self.kind, self.aggregate_id, self.name)

    @classmethod
    def subject_filter(cls) -> str:
        return subjects.events_of(cls.kind, cls.name)

    @property
    def dedup_id(self) -> str:
        return f"{self.aggregate_id}:{self.name}:{self.causation_id or self.event_id}"
