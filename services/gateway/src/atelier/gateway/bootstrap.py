"""Composition root: builds the gateway's collaborators from settings."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient

from atelier.gateway.auth import Authenticator
from atelier.gateway.config import GatewaySettings
from atelier.runtime.bus import EventBus, connect


@dataclass
class Gateway:
    settings: GatewaySettings
    nc: NatsClient
    bus: EventBus
    auth: Authenticator


@asynccontextmanager
async def gateway(settings: GatewaySettings):
    nc = await connect(settings.nats_url, name=f"gateway{settings.instance_id}")
    try:
        yield Gateway(
            settings=settings,
            nc=nc,
            bus=EventBus(nc),
            auth=Authenticator(settings.jwt_secret.get_secret_value(), settings.jwt_audience),
        )
    finally:
        await nc.drain()
