"""The platform as production runs it, on one machine: a three-node NATS cluster (streams,
buckets and durable consumers with three copies) and two processes of every service,
each connected to every node. While the chaos suite's bounded load runs through both
gateways in turn, the event stream's leader is killed, then a follower, then every node
is restarted one by one; after each, the platform is whole again (invariants.py, as on
one server) and nothing had to restart a service. `make chaos-cluster` runs only this.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from functools import partial

import pytest

from atelier.platform.local import SERVICES, Platform
from atelier.stack.servers import EmbeddedServers
from tests.chaos.cluster import (
    FAULTS,
    ClusterStack,
    LeaderWatch,
    ServiceLogs,
    every_copy_current,
)
from tests.chaos.faults import restarted_since, supervised_restarts
from tests.chaos.figures import CLUSTER_FIGURES, ClusterFigures
from tests.chaos.load import Load
from tests.chaos.rounds import drive_through, settle

pytestmark = [pytest.mark.chaos_cluster, pytest.mark.e2e, pytest.mark.timeout(600)]

#: Generations per fault (one of them a Wan video), with workspace and library actions.
JOBS_PER_FAULT = 4
#: Processes of each service.
REPLICAS = 2
#: Every user the module has driven: the invariants are checked over all of them.
LOADS: list[Load] = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    data_dir = tmp_path_factory.mktemp("chaos-cluster")
    servers = EmbeddedServers(data_dir / "servers", nats_nodes=3)
    servers.start()
    # A dead worker's job comes back after 6 s; users are not limited by the load itself;
    # the four GPU workers start without warming their models up (not under test here).
    fast = {
        "ACK_WAIT_SECONDS": "6",
        "MAX_ACTIVE_JOBS_PER_USER": "100",
        "SUBMITS_PER_MINUTE_PER_USER": "1000",
        "WARMUP": "[]",
    }
    platform = Platform(data_dir / "platform", os.environ, endpoints=servers.endpoints,
                        service_env=fast, replicas=REPLICAS)  # fmt: skip
    try:
        with platform:
            yield ClusterStack(servers, platform)
    finally:
        servers.stop()


async def test_every_stream_and_durable_consumer_has_three_copies(cluster) -> None:
    platform = cluster.platform
    assert len(platform.services) == len(SERVICES) * REPLICAS
    assert platform.endpoints.stream_replicas == 3
    assert await _whole_within(platform, 60) == []


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_the_platform_is_whole_again_after(cluster, fault: str) -> None:
    platform = cluster.platform
    figures = ClusterFigures(fault)
    load = Load(uuid.uuid4(), JOBS_PER_FAULT, gateways=platform.gateway_urls)
    LOADS.append(load)
    restarts = supervised_restarts(platform)
    logs = ServiceLogs(platform)
    async with LeaderWatch(platform) as watch:
        await drive_through(platform, load, figures, lambda: FAULTS[fault](cluster, load))
    every_copy_back = partial(_whole_within, platform, 60)
    lacking = await settle(platform, load, LOADS, figures, also=every_copy_back)
    figures.leaderless_s = round(watch.leaderless_s, 1)
    figures.longest_leaderless_s = round(watch.longest_s, 1)
    figures.leader_changes = watch.changes
    figures.nats_errors = logs.count("nats error")
    figures.reconnects = logs.count("nats reconnected")
    CLUSTER_FIGURES.append(figures)
    assert lacking == [], "the cluster did not get its copies back"
    assert figures.completed + figures.failed + figures.cancelled == figures.accepted
    # The services rode the fault out: their supervisor restarted none of them.
    restarted = restarted_since(platform, restarts)
    assert restarted == {}, f"restarted by the supervisor: {restarted}"


async def _whole_within(platform: Platform, timeout: float) -> list[str]:
    """Wait until every stream and durable consumer has a leader and all its copies are
    current; what still lacks one when the time is up."""
    deadline = time.monotonic() + timeout
    while (lacking := await every_copy_current(platform)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return lacking
