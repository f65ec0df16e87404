"""Events of the webhooks service: webhooks registered and deleted, and the outcome of
each delivery attempt.

    atelier.user.{user}.webhook.{webhook}.{registered|deleted}
    atelier.user.{user}.webhook_delivery.{delivery}.{retrying|succeeded|failed}

A delivery's id is derived from its webhook and the event it carries
(`delivery_id`), so it is the same on every attempt and on a rebuild: receivers dedupe
by it (`webhook-id: msg_{delivery}`). The signing secret is on the log encrypted
(Fernet, the service's `WEBHOOK_SECRET_KEYS`), never in clear.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from atelier.contracts.envelope import AggregateEvent
from atelier.contracts.text import MULTI_LINE, SINGLE_LINE

KIND = "webhook"
DELIVERY_KIND = "webhook_delivery"
#: The most webhooks a user may hold at once.
MAX_WEBHOOKS_PER_USER = 20
MAX_URL_LENGTH = 2000

_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}\.(\*|[a-z][a-z_]{0,63})$")


def _web_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when not a number or out of range
    except ValueError as error:
        raise ValueError(f"not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials")
    if parts.fragment:
        raise ValueError("must not have a fragment")
    if port == 0:
        raise ValueError("port 0 is not a port")
    if " " in url:
        raise ValueError("must not contain spaces")
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    SINGLE_LINE,
    AfterValidator(_web_url),
]
#: An event type (`generation.completed`) or a family wildcard (`library.*`).
EventPattern = Annotated[str, StringConstraints(max_length=100), SINGLE_LINE]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), MULTI_LINE]
#: A Fernet token of the `whsec_…` secret.
EncryptedSecret = Annotated[str, StringConstraints(min_length=1, max_length=1000), SINGLE_LINE]
DeliveryError = Annotated[str, StringConstraints(max_length=500), MULTI_LINE]
EventTypeName = Annotated[str, StringConstraints(max_length=100), SINGLE_LINE]


def is_pattern(text: str) -> bool:
    return bool(_PATTERN.fullmatch(text))


def matches(pattern: str, event_type: str) -> bool:
    """Whether a webhook subscribed to `pattern` receives events of `event_type`."""
    if pattern.endswith(".*"):
        return event_type.split(".", 1)[0] == pattern[:-2]
    return pattern == event_type


def delivery_id(webhook_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    """One delivery per (webhook, event), the same on every attempt and every rebuild:
    the md5 of both ids as text, as the projection computes it in SQL."""
    return uuid.UUID(hashlib.md5(f"{webhook_id}{event_id}".encode()).hexdigest())


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WebhookRefData(_Frozen):
    webhook_id: uuid.UUID


class WebhookRegisteredData(WebhookRefData):
    url: WebhookUrl
    events: list[EventPattern] = Field(min_length=1, max_length=64)
    description: Description = ""
    encrypted_secret: EncryptedSecret = Field(
        description="The signing secret, encrypted with the service's key (never in clear)"
    )


class DeliveryAttemptData(_Frozen):
    """One attempt to deliver an event to a webhook, and what comes next."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: EventTypeName
    attempt: int = Field(ge=1, le=10_000)
    status_code: int | None = Field(default=None, ge=100, le=599)
    error: DeliveryError | None = None
    attempted_at: AwareDatetime
    next_attempt_at: AwareDatetime | None = Field(
        default=None, description="When it is tried again (retrying only)"
    )


class _WebhookEvent(AggregateEvent):
    kind: ClassVar[str] = KIND

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.data.webhook_id


class WebhookRegistered(_WebhookEvent):
    name: ClassVar[str] = "registered"
    type: Literal["webhook.registered"] = "webhook.registered"
    data: WebhookRegisteredData


class WebhookDeleted(_WebhookEvent):
    name: ClassVar[str] = "deleted"
    type: Literal["webhook.deleted"] = "webhook.deleted"
    data: WebhookRefData


class _DeliveryEvent(AggregateEvent):
    kind: ClassVar[str] = DELIVERY_KIND
    data: DeliveryAttemptData

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.data.delivery_id

    @property
    def dedup_id(self) -> str:
        """One outcome per attempt: a worker that appends it twice appends once."""
        return f"{self.data.delivery_id}:attempt:{self.data.attempt}"


class DeliveryRetrying(_DeliveryEvent):
    """The attempt failed (an error, a timeout or a non-2xx answer); tried again at
    `next_attempt_at`."""

    name: ClassVar[str] = "retrying"
    type: Literal["webhook.delivery_retrying"] = "webhook.delivery_retrying"


class DeliverySucceeded(_DeliveryEvent):
    name: ClassVar[str] = "succeeded"
    type: Literal["webhook.delivery_succeeded"] = "webhook.delivery_succeeded"


class DeliveryFailed(_DeliveryEvent):
    """The last attempt failed and the retry window is over: given up."""

    name: ClassVar[str] = "failed"
    type: Literal["webhook.delivery_failed"] = "webhook.delivery_failed"


DELIVERY_OUTCOMES = (DeliveryRetrying, DeliverySucceeded, DeliveryFailed)
