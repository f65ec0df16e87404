"""Expiry keeps up with thousands of assets, with two workspace replicas sweeping: every
expired asset leaves the workspace and its two objects leave the bucket (the sweeper
used to expire 200 a minute per replica: 25 minutes for these)."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from atelier.contracts import examples
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.platform.local import SERVICES
from atelier.stack.services import ServiceProcess
from tests.helpers import bus, client, eventually, store, tiny_png, workspace_items

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

JOBS = 834  # × 6 images: 5,004 assets
IMAGES = 6


@pytest.fixture
def second_workspace(platform):
    (spec,) = [spec for spec in SERVICES if spec.name == "workspace"]
    replica = ServiceProcess(
        "workspace-2", spec.module, platform.data_dir, platform.env_of(spec), spec.port_env
    )
    replica.start()
    yield replica
    replica.stop()


async def test_five_thousand_expired_assets_leave_with_their_objects(platform, second_workspace):
    user = uuid.uuid4()
    long_ago = datetime.now(UTC) - timedelta(days=9)
    completions = [
        examples.completed(user, num_images=IMAGES).model_copy(update={"occurred_at": long_ago})
        for _ in range(JOBS)
    ]
    keys = [
        key
        for completed in completions
        for asset in completed.data.assets
        for key in (asset.storage_key, asset.thumbnail_key)
    ]
    png = tiny_png()
    async with store(platform) as s3:
        writing = asyncio.Semaphore(32)

        async def put(key: str) -> None:
            async with writing:
                await s3.put(WORKSPACE_BUCKET, key, png, "image/png")

        await asyncio.gather(*(put(key) for key in keys))

    started = time.monotonic()
    events = await bus(platform)
    try:
        for completed in completions:
            await events.publish(completed)
    finally:
        await events.nc.close()

    async with store(platform) as s3:

        async def objects_gone() -> bool:
            return not await s3.listing(WORKSPACE_BUCKET, f"{user}/")

        await eventually(objects_gone, timeout=420, interval=2)
    async with client(platform, user) as api:
        assert await workspace_items(api) == []
    print(f"\n{len(keys) // 2} expired assets and {len(keys)} objects gone in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
