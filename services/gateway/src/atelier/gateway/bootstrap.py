"""Composition root: builds the gateway's collaborators from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
from fastapi import Response
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from atelier.contracts.watermarks import SHOWN_TO_USERS
from atelier.gateway.auth import Authenticator
from atelier.gateway.config import GatewaySettings
from atelier.gateway.event_frames import EventFrames
from atelier.gateway.jwks import JwksCache
from atelier.gateway.live_events import LiveEvents
from atelier.gateway.quotas import Quotas
from atelier.runtime import rpc
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.limits import (
    ActiveJobs,
    AnonymousRequests,
    DailyJobs,
    Limits,
    UserLimits,
)
from atelier.runtime.objects import ObjectStore
from atelier.runtime.watermarks import Watermarks

R = TypeVar("R", bound=BaseModel)
JSON = "application/json"


@dataclass
class Gateway:
    settings: GatewaySettings
    nc: NatsClient
    bus: EventBus
    auth: Authenticator
    #: For uploads, and to serve shared files the library locates: everything else in S3
    #: belongs to the workspace and library.
    objects: ObjectStore
    limits: Limits
    #: Requests a minute per client address on the anonymous routes (share links).
    anonymous: AnonymousRequests
    quotas: Quotas
    #: How far the workspace and library tables are: the event stream waits for them.
    watermarks: Watermarks
    #: The user's events and progress for the event streams open on this process.
    live: LiveEvents

    async def call(self, subject: str, request: BaseModel, response_model: type[R]) -> R:
        """Ask the service that owns the data; its refusals become problem+json."""
        return await rpc.call(self.nc, subject, request, response_model)

    async def relay(self, subject: str, request: BaseModel) -> Response:
        """The service's answer, as the JSON response it wrote: for a reply the gateway
        has nothing to add to (a listing), decoding and encoding it again is the cost of
        the request (bench.workspace_listing)."""
        return Response(await rpc.call_json(self.nc, subject, request), media_type=JSON)


@asynccontextmanager
async def authenticator(settings: GatewaySettings) -> AsyncIterator[Authenticator]:
    """The token check the settings ask for, with the provider's keys fetched ahead."""
    async with httpx.AsyncClient() as http:
        jwks = JwksCache(settings.jwt_jwks_url, http) if settings.jwt_jwks_url else None
        if jwks is not None:
            await jwks.warm()
        yield Authenticator(
            secrets=settings.hs256_secrets(),
            jwks=jwks,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway_seconds=settings.jwt_leeway_seconds,
            user_claim=settings.jwt_user_claim,
            tier_claim=settings.jwt_tier_claim,
            tier_of=settings.tier_of,
            role_claim=settings.jwt_role_claim,
            admin_role=settings.jwt_admin_role,
        )


@asynccontextmanager
async def gateway(settings: GatewaySettings):
    nc = await connect(settings.nats_url, name=f"gateway{settings.instance_id}")
    watermarks = Watermarks(SHOWN_TO_USERS)
    try:
        await watermarks.follow(nc)
        async with ObjectStore(settings) as objects, authenticator(settings) as auth:
            live = LiveEvents(nc, EventFrames(objects, settings.thumbnail_url_seconds))
            await live.start()
            yield Gateway(
                settings=settings,
                nc=nc,
                bus=EventBus(nc),
                auth=auth,
                objects=objects,
                limits=Limits(
                    nc.jetstream(),
                    await ActiveJobs.open(nc.jetstream()),
                    UserLimits(
                        max_active_jobs=settings.max_active_jobs_per_user,
                        submits_per_minute=settings.submits_per_minute_per_user,
                    ),
                ),
                anonymous=AnonymousRequests(nc.jetstream(), settings.anonymous_requests_per_minute),
                quotas=Quotas(nc, DailyJobs(nc.jetstream())),
                watermarks=watermarks,
                live=live,
            )
    finally:
        await nc.drain()
