"""`python -m atelier.platform provision` against running servers: what the Kubernetes Job runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from atelier.contracts.storage import ALL_BUCKETS
from atelier.contracts.streams import ALL_STREAMS, EVENTS
from atelier.platform.provision import durable_consumers
from atelier.runtime.bus import connect
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings
from atelier.stack.servers import Endpoints

pytestmark = pytest.mark.integration


def run_provision(servers: Endpoints) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "atelier.platform", "provision", "--stream-replicas", "1"],
        env={**os.environ, **servers.as_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def test_provision_creates_streams_consumers_and_buckets_idempotently(servers):
    assert "provisioned" in run_provision(servers)
    assert "provisioned" in run_provision(servers)  # a re-run changes nothing and succeeds

    settings = RuntimeSettings(**{k.lower(): v for k, v in servers.as_env().items()})
    nc = await connect(settings.nats_url, name="test-provision")
    try:
        js = nc.jetstream()
        for spec in ALL_STREAMS:
            info = await js.stream_info(spec.name)
            assert info.config.num_replicas == 1
        for config in durable_consumers():
            info = await js.consumer_info(EVENTS.name, config.durable_name)
            assert info.config.ack_policy == config.ack_policy
    finally:
        await nc.close()
    async with ObjectStore(settings) as objects:
        for bucket in ALL_BUCKETS:
            await objects.head_bucket(bucket)
