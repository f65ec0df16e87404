"""Small helpers the cross-service tests share."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import httpx
from nats.js.errors import NotFoundError
from PIL import Image

from atelier.contracts import examples, scheduling, subjects
from atelier.contracts.generation import OUTCOMES, GenerationCompleted
from atelier.contracts.storage import LIBRARY_BUCKET, WORKSPACE_BUCKET
from atelier.contracts.streams import ACTIVE_JOBS, DEAD_LETTERS, EVENTS, RATE_COUNTERS
from atelier.library.projection import LibraryProjection
from atelier.platform.local import Platform
from atelier.platform.provision import durable_consumers
from atelier.runtime.aggregates import read_last_event
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.dead_letters import ORIGINAL_SUBJECT
from atelier.runtime.objects import ObjectStore
from atelier.scheduler.dispatcher import FILTERS as SCHEDULER_FILTERS
from atelier.scheduler.usage import UsageProjection
from atelier.webhooks.projection import WebhooksProjection
from atelier.workspace.projection import WorkspaceProjection

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


def client(
    platform: Platform, user_id: uuid.UUID | None = None, **claims: object
) -> httpx.AsyncClient:
    """An HTTP client of the gateway, authenticated as `user_id` (a new user by default),
    with `claims` in its token besides (`tier="pro"`, `roles=[...]`)."""
    token = platform.token(user_id or uuid.uuid4(), claims=claims)
    return httpx.AsyncClient(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )


def anonymous(platform: Platform) -> httpx.AsyncClient:
    """A client of the gateway with no token, from an address of its own (127.x.y.z: Linux
    answers the whole of 127/8 on loopback), so its requests count against its own rate."""
    address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    return httpx.AsyncClient(
        base_url=platform.gateway_url,
        transport=httpx.AsyncHTTPTransport(local_address=address),
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


async def library_asset(api: httpx.AsyncClient, library_id: str) -> dict:
    """Wait until the library lists the asset; return it."""

    async def probe():
        return next((a for a in await library_items(api) if a["id"] == library_id), None)

    return await eventually(probe)


async def saved_asset(platform: Platform, api: httpx.AsyncClient, user_id) -> tuple[dict, str]:
    """A workspace asset of a new job, saved to the library: the asset, its library id."""
    (asset,) = await seeded_assets(platform, api, user_id, 1)
    saved = await api.post(f"/v1/workspace/assets/{asset['id']}/save")
    library_id = saved.json()["library_asset_id"]
    await library_asset(api, library_id)
    return asset, library_id


async def library_keys(platform: Platform, user_id, library_id: str) -> list[str]:
    """The objects of every copy of a library asset (each save makes its own)."""
    async with store(platform) as s3:
        listing = await s3.listing(LIBRARY_BUCKET, f"{user_id}/{library_id}/")
    return sorted(key for key, _ in listing)


async def objects_exist(platform: Platform, bucket: str, *keys: str) -> list[bool]:
    async with store(platform) as s3:
        return [await s3.exists(bucket, key) for key in keys]


async def seeded_assets(platform: Platform, api: httpx.AsyncClient, user_id, n: int) -> list[dict]:
    """Seed a job of `n` images and wait until the workspace lists them."""
    completed = await seed_workspace(platform, user_id, n)
    return await job_assets(api, str(completed.data.job_id), n)


async def settled(platform: Platform, timeout: float = 30.0) -> None:
    """Wait until every reactor has drained its consumer and every projection has applied
    the last event it reads: the platform is at rest and its tables are final."""
    projections = {
        "workspace": WorkspaceProjection(),
        "library": LibraryProjection(),
        "scheduler": UsageProjection(),
        "webhooks": WebhooksProjection(),
    }
    events = await bus(platform)
    pool = await asyncpg.create_pool(platform.settings().database_url, min_size=1, max_size=2)

    async def at_rest() -> bool:
        for durable in ("workspace-reactors", "library-reactors"):
            info = await events.js.consumer_info(EVENTS.name, durable)
            if info.num_pending or info.num_ack_pending:
                return False
        for schema, projection in projections.items():
            wanted = 0
            for subject_filter in projection.subjects:
                with contextlib.suppress(NotFoundError):
                    wanted = max(
                        wanted, (await events.js.get_last_msg(EVENTS.name, subject_filter)).seq
                    )
            position = await pool.fetchval(
                f"SELECT min(position) FROM {schema}.projection_positions WHERE projection = $1",
                projection.name,
            )
            if position < wanted:
                return False
        return True

    try:
        await eventually(at_rest, timeout=timeout, interval=0.1)
        await eventually(at_rest, timeout=timeout, interval=0.1)  # reactors' own outcomes
    finally:
        await pool.close()
        await events.nc.close()


async def user_rows(platform: Platform, user_id: uuid.UUID) -> dict[str, list[dict]]:
    """Every row of the user in the projections' tables, in a stable order."""
    conn = await asyncpg.connect(platform.settings().database_url)
    try:
        return {
            table: [
                dict(row)
                for row in await conn.fetch(
                    f"SELECT * FROM {table} WHERE user_id = $1 ORDER BY 1, 2, 3, 4", user_id
                )
            ]
            for table in (
                "workspace.workspace_assets",
                "workspace.generation_jobs",
                "library.user_library",
                "library.user_collections",
                "scheduler.usage_daily",
            )
        }
    finally:
        await conn.close()


def rebuild(platform: Platform, service: str, processes: int = 3) -> str:
    """Run `atelier rebuild SERVICE` against the platform, as an operator would (by
    default in three processes, each applying some partitions)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "atelier.platform.cli",
            "rebuild",
            service,
            "--data-dir",
            str(platform.data_dir),
            "--processes",
            str(processes),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"the rebuild of {service} failed:\n{result.stderr[-4000:]}")
    return result.stdout


async def outcome(platform: Platform, user_id: uuid.UUID, job_id: str, timeout: float = 120):
    """The event that ended the job (completed, failed or cancelled), once it is on the log."""
    events = await bus(platform)
    history = subjects.generation_history(user_id, uuid.UUID(job_id))

    async def ended():
        last = (await read_last_event(events, history)).event
        return last if isinstance(last, OUTCOMES) else None

    try:
        return await eventually(ended, timeout=timeout)
    finally:
        await events.nc.close()


def readers_of(subject: str) -> set[str]:
    """The consumers (projections and durable consumers) whose filters select `subject`."""
    filters = {
        projection.name: list(projection.subjects)
        for projection in (
            WorkspaceProjection(),
            LibraryProjection(),
            UsageProjection(),
            WebhooksProjection(),
        )
    }
    for config in durable_consumers():
        filters[config.durable_name] = config.filter_subjects or [config.filter_subject]
    filters[scheduling.SERVICE] = SCHEDULER_FILTERS
    return {
        name
        for name, wanted in filters.items()
        if any(subjects.matches(each, subject) for each in wanted)
    }


async def dead_lettered(platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
    """Every dead letter so far: (consumer, original subject) → its headers."""
    events = await bus(platform)
    try:
        state = (await events.js.stream_info(DEAD_LETTERS.name)).state
        found = {}
        for sequence in range(max(state.first_seq, 1), state.last_seq + 1):  # 0: none yet
            with contextlib.suppress(NotFoundError):
                msg = await events.js.get_msg(DEAD_LETTERS.name, sequence)
                consumer = msg.subject.removeprefix(f"{subjects.DEAD_LETTER_ROOT}.")
                found[consumer, msg.headers[ORIGINAL_SUBJECT]] = msg.headers
        return found
    finally:
        await events.nc.close()


async def count_events(platform: Platform, subject_filter: str) -> int:
    events = await bus(platform)
    try:
        info = await events.js.stream_info(EVENTS.name, subjects_filter=subject_filter)
        return sum((info.state.subjects or {}).values())
    finally:
        await events.nc.close()


async def published_for(platform: Platform, user: uuid.UUID) -> int:
    """The user's events on the log, their submit counters and their active jobs (admission
    counts first): 0 while nothing of theirs was ever accepted."""
    limits = {
        RATE_COUNTERS.name: f"{subjects.LIMITS_ROOT}.*.{user}.>",
        f"KV_{ACTIVE_JOBS.name}": f"$KV.{ACTIVE_JOBS.name}.{user}",
    }
    events = await bus(platform)
    try:
        counted = 0
        for stream, pattern in limits.items():
            info = await events.js.stream_info(stream, subjects_filter=pattern)
            counted += len(info.state.subjects or {})
    finally:
        await events.nc.close()
    return counted + await count_events(platform, subjects.user_events(user))


class EventStream:
    """Reads one SSE connection into (id, event, data) triples and comment lines."""

    def __init__(self, api: httpx.AsyncClient, last_event_id: str | None = None, **params):
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self._request = api.stream("GET", "/v1/events", headers=headers, params=params)
        self.events: list[tuple[str | None, str, dict]] = []
        self.comments: list[str] = []

    async def __aenter__(self) -> EventStream:
        self.response = await self._request.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._request.__aexit__(*exc)

    async def until(self, predicate, timeout: float = 120) -> None:
        """Read frames until `predicate(self)` holds."""
        frame: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments.append(line)
                elif line:
                    field, _, value = line.partition(": ")
                    frame[field] = value
                elif "data" in frame:
                    self.events.append((frame.get("id"), frame["event"], json.loads(frame["data"])))
                    frame = {}
                if predicate(self):
                    return

    def types(self) -> list[str]:
        return [event for _, event, _ in self.events]


def done(job_id: str):
    return lambda stream: any(
        event == "generation.completed" and data["data"]["job_id"] == job_id
        for _, event, data in stream.events
    )
