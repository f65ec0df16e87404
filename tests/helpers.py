"""Small helpers the cross-service tests share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

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
