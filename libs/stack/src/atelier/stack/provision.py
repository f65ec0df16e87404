"""Create what the platform needs on its servers: streams and buckets. Idempotent.

Tables and durable consumers are created by the services that own them, at start.
"""

from __future__ import annotations

from atelier.contracts.storage import ALL_BUCKETS
from atelier.runtime.bus import connect, ensure_streams
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings


async def provision(settings: RuntimeSettings) -> None:
    nc = await connect(settings.nats_url, name="provision")
    try:
        await ensure_streams(nc)
    finally:
        await nc.close()
    async with ObjectStore(settings) as objects:
        for bucket in ALL_BUCKETS:
            await objects.ensure_bucket(bucket)
