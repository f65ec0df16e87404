"""Register, list and delete webhooks, and list their deliveries (RPC handlers)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from atelier.contracts import webhook_events as events
from atelier.contracts import webhooks as api
from atelier.contracts.envelope import Envelope
from atelier.runtime import cursors
from atelier.runtime.bus import EventBus
from atelier.runtime.rpc import RpcError
from atelier.webhooks import ssrf
from atelier.webhooks.secrets import SecretBox, new_secret

SOURCE = "webhooks"


@dataclass
class WebhookCommands:
    bus: EventBus
    pool: asyncpg.Pool
    box: SecretBox
    allow_private_targets: bool
    until_shown: Callable[[Envelope, int], Awaitable[object]]

    async def register(self, command: api.RegisterWebhook) -> api.RegisteredWebhook:
        fields = command.fields
        if not self.allow_private_targets:
            try:
                await ssrf.check_url(fields.url)
            except ssrf.RefusedTarget as refused:
                raise RpcError(422, "Invalid request", f"url: {refused}") from refused
        held = await self.pool.fetchval(
            "SELECT count(*) FROM webhooks WHERE user_id = $1", command.user_id
        )
        if held >= events.MAX_WEBHOOKS_PER_USER:
            raise RpcError(
                422,
                "Invalid request",
                f"url: at most {events.MAX_WEBHOOKS_PER_USER} webhooks per user; delete one",
            )
        secret = new_secret()
        event = events.WebhookRegistered.create(
            source=SOURCE,
            user_id=command.user_id,
            data=events.WebhookRegisteredData(
                webhook_id=uuid.uuid4(),
                url=fields.url,
                events=fields.events,
                description=fields.description,
                encrypted_secret=self.box.seal(secret),
            ),
        )
        await self._append(event)
        return api.RegisteredWebhook(
            id=event.data.webhook_id,
            url=fields.url,
            events=fields.events,
            description=fields.description,
            created_at=event.occurred_at,
            secret=secret,
        )

    async def delete(self, command: api.WebhookRef) -> api.Deleted:
        await self._owned(command.user_id, command.webhook_id)
        event = events.WebhookDeleted.create(
            source=SOURCE,
            user_id=command.user_id,
            data=events.WebhookRefData(webhook_id=command.webhook_id),
        )
        await self._append(event)
        return api.Deleted(id=command.webhook_id)

    async def list(self, query: api.ListWebhooks) -> api.Webhooks:
        rows = await self.pool.fetch(
            "SELECT id, url, events, description, created_at FROM webhooks "
            "WHERE user_id = $1 ORDER BY created_at, id",
            query.user_id,
        )
        return api.Webhooks(items=[api.Webhook(**dict(row)) for row in rows])

    async def list_deliveries(self, query: api.ListDeliveries) -> api.Deliveries:
        await self._owned(query.user_id, query.webhook_id)
        after = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=2**128 - 1))
        if query.cursor:
            after = cursors.decode(query.cursor, datetime, uuid.UUID)
        rows = await self.pool.fetch(
            "SELECT id, event_id, event_type, status, attempts, last_status_code, last_error, "
            "last_attempt_at, next_attempt_at, created_at FROM webhook_deliveries "
            "WHERE webhook_id = $1 AND user_id = $2 AND (created_at, id) < ($3, $4) "
            "ORDER BY created_at DESC, id DESC LIMIT $5",
            query.webhook_id,
            query.user_id,
            *after,
            query.limit + 1,
        )
        shown, cursor = cursors.page(rows, query.limit, lambda r: (r["created_at"], r["id"]))
        items = [api.Delivery(**_settled(dict(row))) for row in shown]
        return api.Deliveries(items=items, next_cursor=cursor)

    async def _owned(self, user_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        found = await self.pool.fetchval(
            "SELECT 1 FROM webhooks WHERE id = $1 AND user_id = $2", webhook_id, user_id
        )
        if found is None:
            raise RpcError(404, "Not Found", "no such webhook")

    async def _append(self, event: Envelope) -> None:
        sequence = await self.bus.publish(event)
        await self.until_shown(event, sequence)


def _settled(row: dict) -> dict:
    """A delivery that succeeded or was given up has no next attempt."""
    return row if row["status"] == "pending" else row | {"next_attempt_at": None}
