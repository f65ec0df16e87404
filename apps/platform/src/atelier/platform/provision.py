"""Create what the platform needs on its servers: streams, durable consumers and buckets.
Idempotent: `make up`, the tests and the Kubernetes provisioning Job all run it.

The durable consumers are created here as well as by their services at start: a GPU
service scaled to zero (KEDA) still needs its consumer, whose lag is what wakes it up.
Tables are created by the services that own them.
"""

from __future__ import annotations

from typing import get_args

from nats.js.api import ConsumerConfig

from atelier.contracts.generation import Model
from atelier.contracts.storage import ALL_BUCKETS
from atelier.contracts.streams import EVENTS
from atelier.inference import worker
from atelier.library import reactors as library_reactors
from atelier.runtime.bus import connect, ensure_streams
from atelier.runtime.consumer import ensure_consumer
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings
from atelier.workspace import reactors as workspace_reactors


def durable_consumers() -> list[ConsumerConfig]:
    """Every durable consumer on the event stream, as its owner configures it."""
    return [
        *(worker.consumer_config(model) for model in get_args(Model)),
        workspace_reactors.consumer_config(),
        library_reactors.consumer_config(),
    ]


async def provision(settings: RuntimeSettings, *, stream_replicas: int = 1) -> None:
    """`stream_replicas`: copies of each stream in a NATS cluster (1 on a single server)."""
    nc = await connect(settings.nats_url, name="provision")
    try:
        await ensure_streams(nc, replicas=stream_replicas)
        for config in durable_consumers():
            await ensure_consumer(nc.jetstream(), EVENTS.name, config)
    finally:
        await nc.close()
    async with ObjectStore(settings) as objects:
        for bucket in ALL_BUCKETS:
            await objects.ensure_bucket(bucket)
