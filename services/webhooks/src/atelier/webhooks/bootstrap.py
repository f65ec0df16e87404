"""Composition root of the webhooks service: the projection (webhooks, and one delivery
row per event and subscribed webhook), the commands and queries, and the delivery
worker, over one set of connections."""

from __future__ import annotations

import asyncio

from atelier.contracts import webhooks as api
from atelier.runtime.lifecycle import wait_all
from atelier.runtime.service import live_projection, resources
from atelier.webhooks.commands import WebhookCommands
from atelier.webhooks.config import WebhooksSettings
from atelier.webhooks.delivery import DeliveryWorker
from atelier.webhooks.projection import WebhooksProjection
from atelier.webhooks.secrets import SecretBox


async def run(settings: WebhooksSettings, stop: asyncio.Event) -> None:
    if settings.webhook_secret_keys is None:
        raise SystemExit("WEBHOOK_SECRET_KEYS is required (Fernet keys, comma-separated)")
    box = SecretBox(settings.webhook_secret_keys.get_secret_value())
    async with resources(
        settings, service=api.SERVICE, schema=settings.db_schema, durables=[], bucket=None
    ) as res:
        runner = await live_projection(res, WebhooksProjection())
        commands = WebhookCommands(
            res.bus,
            res.pool,
            box,
            settings.webhook_allow_private_targets,
            until_shown=runner.wait_until_shown,
        )
        await res.serve(
            [
                (api.REGISTER, api.RegisterWebhook, commands.register),
                (api.LIST, api.ListWebhooks, commands.list),
                (api.DELETE, api.WebhookRef, commands.delete),
                (api.LIST_DELIVERIES, api.ListDeliveries, commands.list_deliveries),
            ]
        )
        worker = DeliveryWorker(
            bus=res.bus,
            pool=res.pool,
            objects=res.objects,
            box=box,
            settings=settings,
            held=lambda: runner.held,
            shown=lambda sequence, user: runner.wait_for(sequence, user),
        )
        await wait_all(stop, runner.run(stop), worker.run(stop))
