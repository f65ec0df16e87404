"""Small helpers the cross-service tests share."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from PIL import Image

from atelier.contracts import examples
from atelier.contracts.generation import GenerationCompleted
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.objects import ObjectStore
from atelier.stack.platform import Platform

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 60.0, interval: float = 0.2
) -> T:
    """Await `probe` until it returns something truthy; fail with its last value."""
    last: T | None = None
    async with asyncio.timeout(timeout):
        while True:
            last = await probe()
            if last:
                return last
            await asyncio.sleep(interval)


def client(platform: Platform, user_id: uuid.UUID | None = None) -> httpx.AsyncClient:
    """An HTTP client of the gateway, authenticated as `user_id` (a new user by default)."""
    token = platform.token(user_id or uuid.uuid4())
    return httpx.AsyncClient(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )


async def job_assets(api: httpx.AsyncClient, job_id: str, count: int) -> list[dict]:
    """Wait until the workspace lists `count` assets of the job; return them in order."""

    async def probe() -> list[dict]:
        response = await api.get("/v1/workspace/assets", params={"limit": 100})
        response.raise_for_status()
        items = [item for item in response.json()["items"] if item["job_id"] == job_id]
        return items if len(items) >= count else []

    return await eventually(probe)


def store(platform: Platform) -> ObjectStore:
    """The platform's S3, as the services see it (for checking objects in the buckets)."""
    return ObjectStore(platform.settings())


async def bus(platform: Platform) -> EventBus:
    return EventBus(await connect(platform.settings().nats_url, name="test"))


def tiny_png(seed: int = 0) -> bytes:
    image = Image.new("RGB", (8, 8), (seed % 256, 80, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def seed_workspace(
    platform: Platform, user_id: uuid.UUID, num_images: int = 3, *, occurred_at=None
) -> GenerationCompleted:
    """A generation completed as a GPU service would report it, its files really in S3:
    the fast way to fill a workspace when the model itself is not under test."""
    completed = examples.completed(user_id, num_images=num_images)
    if occurred_at is not None:
        completed = completed.model_copy(update={"occurred_at": occurred_at})
    async with store(platform) as s3:
        for asset in completed.data.assets:
            await s3.put(WORKSPACE_BUCKET, asset.storage_key, tiny_png(asset.index), "image/png")
            await s3.put(WORKSPACE_BUCKET, asset.thumbnail_key, tiny_png(), "image/webp")
    events = await bus(platform)
    try:
        await events.publish(completed)
    finally:
        await events.nc.close()
    return completed


async def workspace_items(api: httpx.AsyncClient, **params) -> list[dict]:
    response = await api.get("/v1/workspace/assets", params={"limit": 100, **params})
    response.raise_for_status()
    return response.json()["items"]


async def library_items(api: httpx.AsyncClient, **params) -> list[dict]:
    response = await api.get("/v1/library/assets", params={"limit": 100, **params})
    response.raise_for_status()
    return response.json()["items"]


async def seeded_assets(platform: Platform, api: httpx.AsyncClient, user_id, n: int) -> list[dict]:
    """Seed a job of `n` images and wait until the workspace lists them."""
    completed = await seed_workspace(platform, user_id, n)
    return await job_assets(api, str(completed.data.job_id), n)
