"""The webhooks service's commands and queries, and their answers (request/reply over
NATS), and which events a webhook may subscribe to."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import OUTCOMES
from atelier.contracts.registry import EVENT_TYPES
from atelier.contracts.requests import PageRequest, UserRequest
from atelier.contracts.webhook_events import (
    Description,
    EventPattern,
    WebhookUrl,
    is_pattern,
)

SERVICE = "webhooks"
REGISTER = subjects.rpc(SERVICE, "register")
LIST = subjects.rpc(SERVICE, "list")
DELETE = subjects.rpc(SERVICE, "delete")
LIST_DELIVERIES = subjects.rpc(SERVICE, "list_deliveries")

#: The events a webhook may receive: a user's generation outcomes and every change of
#: their workspace and library.
SUBSCRIBABLE: tuple[type[Envelope], ...] = (
    *OUTCOMES,
    *(
        event_type
        for event_type in EVENT_TYPES
        if event_type.model_fields["type"].default.split(".")[0] in ("workspace", "library")
    ),
)
EVENT_NAMES: tuple[str, ...] = tuple(e.model_fields["type"].default for e in SUBSCRIBABLE)
WILDCARDS = ("generation.*", "workspace.*", "library.*")

DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookFields(BaseModel):
    """Body of `POST /v1/webhooks`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: WebhookUrl = Field(description="Where deliveries are POSTed (http or https)")
    events: list[EventPattern] = Field(
        min_length=1,
        max_length=64,
        description="Event types (`generation.completed`) or families (`library.*`)",
    )
    description: Description = ""

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        for name in events:
            if not is_pattern(name) or (name not in EVENT_NAMES and name not in WILDCARDS):
                raise ValueError(
                    f"{name!r} is not an event a webhook can receive "
                    f"(one of {', '.join(WILDCARDS)} or an event type of those families)"
                )
        return list(dict.fromkeys(events))


class ListWebhooks(UserRequest):
    pass


class RegisterWebhook(UserRequest):
    fields: WebhookFields


class WebhookRef(UserRequest):
    webhook_id: uuid.UUID


class ListDeliveries(PageRequest):
    webhook_id: uuid.UUID


class Webhook(BaseModel):
    """A webhook as the API shows it: never its secret."""

    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    created_at: AwareDatetime


class RegisteredWebhook(Webhook):
    """The answer to a registration: the only time the secret is shown."""

    secret: str = Field(
        description="`whsec_…`: verifies the `webhook-signature` of each delivery "
        "(Standard Webhooks); shown once"
    )


class Webhooks(BaseModel):
    items: list[Webhook]


class Delivery(BaseModel):
    id: uuid.UUID = Field(description="The delivery id: the `webhook-id` header is `msg_{id}`")
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: AwareDatetime | None
    next_attempt_at: AwareDatetime | None
    created_at: AwareDatetime


class Deliveries(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class Deleted(BaseModel):
    id: uuid.UUID
    deleted: bool = True
