"""`webhooks` and `webhook_deliveries`, one projection of the log.

The fan-out is part of the projection: it reads the webhook events *and* the events a
webhook may receive, a user's in the log's order, so when an event is applied the
user's webhooks table is exactly as the log stood at that event. One row per
subscribed webhook is inserted in the same transaction as the position: a webhook gets
exactly the events after its registration and none after its deletion, each once, and
a rebuild makes the same rows (the delivery id is the md5 of the webhook and event ids,
`webhook_events.delivery_id`). The delivery worker's outcomes (`webhook.delivery_*`)
move a row's status, attempts and next attempt.
"""

from __future__ import annotations

from typing import ClassVar

from atelier.contracts import webhook_events as events
from atelier.contracts.envelope import Envelope
from atelier.contracts.partitions import partition_of
from atelier.contracts.webhooks import SUBSCRIBABLE
from atelier.runtime.projection import TableProjection, WriteHandlers
from atelier.runtime.writes import Writes

DDL = """
CREATE TABLE IF NOT EXISTS webhooks (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    encrypted_secret text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_user ON webhooks (user_id, created_at);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL,
    user_id uuid NOT NULL,
    partition smallint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    event jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error text,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_newest
    ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (partition, next_attempt_at) WHERE status = 'pending';
"""

#: One delivery of the event for each of the user's webhooks that subscribes to it now.
FAN_OUT = """
INSERT INTO webhook_deliveries (
    id, webhook_id, user_id, partition, event_id, event_type, event, next_attempt_at,
    created_at
)
SELECT md5(w.id::text || $8)::uuid, w.id, w.user_id, $2, $3, $4, $5, $6, $6
FROM webhooks w
WHERE w.user_id = $1 AND ($4 = ANY (w.events) OR $7 = ANY (w.events))
ON CONFLICT (id) DO NOTHING
"""

ATTEMPTED = """
UPDATE webhook_deliveries
SET attempts = $3, status = $4, last_status_code = $5, last_error = $6,
    last_attempt_at = $7, next_attempt_at = $8
WHERE id = $1 AND user_id = $2 AND attempts < $3
"""


def fan_out(event: Envelope, writes: Writes) -> None:
    """Rows found by a query (the user's webhooks): a barrier within the user."""
    family = event.type.split(".", 1)[0]
    writes.add(
        FAN_OUT,
        (
            event.user_id,
            partition_of(event.user_id),
            event.event_id,
            event.type,
            event.model_dump(mode="json"),
            event.occurred_at,
            f"{family}.*",
            str(event.event_id),
        ),
        scope=event.user_id,
        keys=None,
    )


def registered(event: events.WebhookRegistered, writes: Writes) -> None:
    data = event.data
    writes.add(
        "INSERT INTO webhooks (id, user_id, url, events, description, encrypted_secret, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        (
            data.webhook_id,
            event.user_id,
            data.url,
            data.events,
            data.description,
            data.encrypted_secret,
            event.occurred_at,
        ),
        scope=event.user_id,
        keys=[("webhook", data.webhook_id)],
    )


def deleted(event: events.WebhookDeleted, writes: Writes) -> None:
    """The webhook and its deliveries go: nothing more is sent to it."""
    webhook_id = event.data.webhook_id
    writes.add(
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND user_id = $2",
        (webhook_id, event.user_id),
        scope=event.user_id,
        keys=None,
    )
    writes.add(
        "DELETE FROM webhooks WHERE id = $1 AND user_id = $2",
        (webhook_id, event.user_id),
        scope=event.user_id,
        keys=[("webhook", webhook_id)],
    )


_STATUS = {
    events.DeliveryRetrying: "pending",
    events.DeliverySucceeded: "succeeded",
    events.DeliveryFailed: "failed",
}


def attempted(event: events.DeliveryRetrying, writes: Writes) -> None:
    """An attempt's outcome; an older attempt's, arriving late, changes nothing."""
    data = event.data
    writes.add(
        ATTEMPTED,
        (
            data.delivery_id,
            event.user_id,
            data.attempt,
            _STATUS[type(event)],
            data.status_code,
            data.error,
            data.attempted_at,
            data.next_attempt_at,
        ),
        scope=event.user_id,
        keys=[("delivery", data.delivery_id)],
    )


class WebhooksProjection(TableProjection):
    name = "webhooks"
    ddl = (DDL,)
    handlers: ClassVar[WriteHandlers] = {
        events.WebhookRegistered: registered,
        events.WebhookDeleted: deleted,
        events.DeliveryRetrying: attempted,
        events.DeliverySucceeded: attempted,
        events.DeliveryFailed: attempted,
        **dict.fromkeys(SUBSCRIBABLE, fan_out),
    }
