"""The chaos suite's faults on a three-node NATS cluster: kill -9 the event stream's
leader, kill -9 one of its followers, restart every node one by one; and what a client
sees meanwhile (how long the stream has no leader, what the services' NATS clients log).

Each fault returns once the node it hit is back and current with the cluster, like the
single-server faults of faults.py (whose `restart` it shares).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats.errors

from atelier.contracts.streams import ALL_BUCKETS, ALL_STREAMS, EVENTS
from atelier.platform.local import Platform
from atelier.platform.provision import durable_consumers
from atelier.stack.servers import EmbeddedNatsCluster, EmbeddedServers
from tests.chaos.faults import DOWNTIME_S, Recovery, restart
from tests.chaos.load import Load
from tests.helpers import bus

#: Copies of every stream and durable consumer on the cluster.
REPLICAS = 3


@dataclass(frozen=True)
class ClusterStack:
    servers: EmbeddedServers
    platform: Platform

    @property
    def nats(self) -> EmbeddedNatsCluster:
        assert isinstance(self.servers.nats, EmbeddedNatsCluster)
        return self.servers.nats


async def stream_cluster(platform: Platform, stream: str = EVENTS.name):
    """The stream's leader and followers, as its info tells them."""
    events = await bus(platform)
    try:
        info = await events.js.stream_info(stream)
    finally:
        await events.nc.close()
    assert info.cluster is not None, f"{stream} is not clustered"
    return info.cluster


async def kill_stream_leader(stack: ClusterStack, load: Load) -> Recovery:
    """kill -9 the node that leads ATELIER_EVENTS: every append waits for a new leader."""
    leader = (await stream_cluster(stack.platform)).leader
    assert leader, "the event stream has no leader to kill"
    return await restart(stack.nats.node(leader))


async def kill_follower(stack: ClusterStack, load: Load) -> Recovery:
    """kill -9 a node that holds a copy of ATELIER_EVENTS but does not lead it."""
    cluster = await stream_cluster(stack.platform)
    follower = (cluster.replicas or [None])[0]
    assert follower is not None, f"the event stream has no follower: {cluster}"
    return await restart(stack.nats.node(follower.name))


async def rolling_restart(stack: ClusterStack, load: Load) -> Recovery:
    """Stop each node (SIGTERM: it hands its leaderships over) and start it again, one
    after another, each back and current with the cluster before the next goes."""
    began = time.monotonic()
    for node in stack.nats.nodes:
        await asyncio.to_thread(node.stop)
        await asyncio.sleep(DOWNTIME_S)
        await asyncio.to_thread(node.start)
    restored = time.monotonic()
    return Recovery("nats cluster", restored, down_s=restored - began)


ClusterFault = Callable[[ClusterStack, Load], Awaitable[Recovery]]

FAULTS: dict[str, ClusterFault] = {
    "kill -9 stream leader": kill_stream_leader,
    "kill -9 a follower": kill_follower,
    "rolling restart": rolling_restart,
}


class LeaderWatch:
    """Asks for ATELIER_EVENTS' info every 0.1 s, from a client of its own connected to
    every node, while it runs: how long the stream had no leader (no answer in time, or an
    answer without a leader) and how often its leader changed. A question lost because the
    watch's own node went (it reconnects to another at once) is asked again, not counted."""

    POLL_S = 0.1
    ANSWER_S = 0.5

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.leaderless_s = 0.0
        self.longest_s = 0.0
        self.changes = 0
        self._since: float | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> LeaderWatch:
        self._events = await bus(self.platform)
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._since is not None:
            self._gap_ended(time.monotonic())
        await self._events.nc.close()

    async def _watch(self) -> None:
        nc = self._events.nc
        js = nc.jetstream(timeout=self.ANSWER_S)
        last: str | None = None
        while True:
            asked, reconnects = time.monotonic(), nc.stats["reconnects"]
            try:
                cluster = (await js.stream_info(EVENTS.name)).cluster
                leader = cluster.leader if cluster else None
            except (TimeoutError, nats.errors.Error):
                if not nc.is_connected or nc.stats["reconnects"] != reconnects:
                    await asyncio.sleep(0.01)  # our own connection moved: ask again
                    continue
                leader = None
            if not leader:
                self._since = self._since if self._since is not None else asked
            else:
                if self._since is not None:
                    self._gap_ended(time.monotonic())
                self.changes += last is not None and leader != last
                last = leader
            await asyncio.sleep(self.POLL_S)

    def _gap_ended(self, now: float) -> None:
        assert self._since is not None
        gap, self._since = now - self._since, None
        self.leaderless_s += gap
        self.longest_s = max(self.longest_s, gap)


class ServiceLogs:
    """The services' log lines written from now on (each service logs JSON lines)."""

    def __init__(self, platform: Platform) -> None:
        self.paths = [service.log_path for service in platform.services.values()]
        self.offsets = {path: _size(path) for path in self.paths}

    def count(self, message: str) -> int:
        """Lines since then whose message is `message`."""
        needle = f'"msg": "{message}"'.encode()
        found = 0
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as log:
                log.seek(self.offsets[path])
                found += sum(needle in line for line in log)
        return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def every_copy_current(platform: Platform) -> list[str]:
    """What lacks a leader or a current copy (empty when the cluster is whole): every
    stream, bucket and durable consumer is to have REPLICAS copies, all current."""
    events = await bus(platform)
    js = events.nc.jetstream(timeout=2.0)
    lacking: list[str] = []
    try:
        names = [s.name for s in ALL_STREAMS] + [f"KV_{b.name}" for b in ALL_BUCKETS]
        for name in names:
            lacking += _lacks(name, (await js.stream_info(name)).cluster)
        for config in durable_consumers():
            info = await js.consumer_info(EVENTS.name, config.durable_name)
            lacking += _lacks(f"consumer {config.durable_name}", info.cluster)
    except (TimeoutError, nats.errors.Error) as error:
        lacking.append(f"no answer: {error!r}")
    finally:
        await events.nc.close()
    return lacking


def _lacks(what: str, cluster) -> list[str]:
    if cluster is None or not cluster.leader:
        return [f"{what}: no leader"]
    replicas = cluster.replicas or []
    if len(replicas) != REPLICAS - 1:
        return [f"{what}: {len(replicas) + 1} copies"]
    return [f"{what}: {peer.name} not current" for peer in replicas if not peer.current]
