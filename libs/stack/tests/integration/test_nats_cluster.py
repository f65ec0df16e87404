"""The three-node NATS cluster on loopback: its ports, its users, replicated streams, and a
client of every node that fails over when the one it talks to is killed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import nats
import psutil
import pytest

from atelier.contracts import permissions
from atelier.contracts.streams import ALL_BUCKETS, ALL_STREAMS, EVENTS
from atelier.runtime.bus import connect, ensure_streams, server_urls
from atelier.stack.servers import EmbeddedNats, EmbeddedNatsCluster, ServerStartError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNatsCluster]:
    with EmbeddedNatsCluster(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes
    assert not any(node.running for node in nodes.nodes)


def test_three_nodes_on_loopback_ports_remembered_in_the_data_directory(cluster) -> None:
    ports = json.loads((cluster.data_dir / "ports.json").read_text())
    for node in cluster.nodes:
        assert (ports[node.name], ports[f"{node.name}-routes"], ports[f"{node.name}-monitor"]) == (
            node.port,
            node.route_port,
            node.monitor_port,
        )
        listening = {
            (conn.laddr.ip, conn.laddr.port)
            for conn in psutil.Process(node.pid).net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        }
        assert listening == {
            ("127.0.0.1", port) for port in (node.port, node.route_port, node.monitor_port)
        }
    urls = [urlsplit(url) for url in server_urls(cluster.url_for(permissions.GATEWAY))]
    assert [(u.username, u.port) for u in urls] == [("gateway", n.port) for n in cluster.nodes]
    assert {u.password for u in urls} == {cluster.passwords[permissions.GATEWAY]}


def test_one_cluster_of_three_with_a_meta_leader(cluster) -> None:
    for node in cluster.nodes:
        jsz = httpx.get(f"{node.monitor_url}/jsz", timeout=5).json()
        assert jsz["meta_cluster"]["cluster_size"] == 3
        assert jsz["meta_cluster"]["leader"] in {n.server_name for n in cluster.nodes}
        routez = httpx.get(f"{node.monitor_url}/routez", timeout=5).json()
        assert {route["remote_name"] for route in routez["routes"]} == {
            n.server_name for n in cluster.nodes if n is not node
        }


async def test_streams_and_buckets_get_three_copies(cluster) -> None:
    nc = await connect(cluster.url, name="test")
    try:
        await ensure_streams(nc, replicas=3)
        await ensure_streams(nc, replicas=3)  # idempotent
        js = nc.jetstream()
        names = [s.name for s in ALL_STREAMS] + [f"KV_{b.name}" for b in ALL_BUCKETS]
        for name in names:
            info = await js.stream_info(name)
            assert info.config.num_replicas == 3, name
            assert info.cluster.leader, name
            assert len(info.cluster.replicas) == 2, name
    finally:
        await nc.close()


async def test_a_bucket_made_for_one_copy_is_given_three(tmp_path: Path, cluster) -> None:
    nc = await connect(cluster.url, name="test")
    try:
        js = nc.jetstream()
        (bucket,) = ALL_BUCKETS
        await js.delete_key_value(bucket.name)
        await ensure_streams(nc, replicas=1)
        assert (await js.stream_info(f"KV_{bucket.name}")).config.num_replicas == 1
        await ensure_streams(nc, replicas=3)
        assert (await js.stream_info(f"KV_{bucket.name}")).config.num_replicas == 3
    finally:
        await nc.close()


async def test_a_client_of_every_node_fails_over_when_its_node_is_killed(cluster) -> None:
    nc = await connect(cluster.url_for(permissions.ADMIN), name="test")
    try:
        await ensure_streams(nc, replicas=3)
        js = nc.jetstream()
        first = await js.publish(f"{EVENTS.subjects[0].rstrip('>')}failover.a", b"1")
        connected = nc.connected_url
        assert connected is not None
        assert connected.username is None  # the credentials are given apart
        (node,) = [n for n in cluster.nodes if n.port == connected.port]
        node.kill()
        try:
            ack = await _publish_until_acked(js, f"{EVENTS.subjects[0].rstrip('>')}failover.b")
            assert ack.seq == first.seq + 1
            assert nc.connected_url.port != node.port
        finally:
            node.start()
    finally:
        await nc.close()


async def test_a_url_without_credentials_is_refused(cluster) -> None:
    bare = f"nats://127.0.0.1:{cluster.nodes[0].port}"
    with pytest.raises(nats.errors.Error):
        await nats.connect(bare, allow_reconnect=False, connect_timeout=2)


def test_a_data_directory_keeps_its_shape(tmp_path: Path) -> None:
    (tmp_path / "nats").mkdir()
    with pytest.raises(ServerStartError, match="single NATS server"):
        EmbeddedNatsCluster(tmp_path).start()
    other = tmp_path / "other"
    (other / "nats-1").mkdir(parents=True)
    with pytest.raises(ServerStartError, match="NATS cluster"):
        EmbeddedNats(other).start()


async def _publish_until_acked(js, subject: str, timeout: float = 30.0):
    """Publish (the same message id each time) until a stream leader acknowledges it: a
    node that led the stream leaves it leaderless for a few seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await js.publish(subject, b"2", timeout=2, headers={"Nats-Msg-Id": subject})
        except nats.errors.Error:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_one_identity_for_every_node_of_a_url() -> None:
    with pytest.raises(ValueError, match="different credentials"):
        await connect("nats://gateway:a@127.0.0.1:1,nats://library:b@127.0.0.1:2", name="test")


async def test_started_again_as_a_whole_it_answers_at_once(cluster) -> None:
    """Ready means every stream has its leader again, not only /healthz's word."""
    cluster.stop()
    cluster.start()
    nc = await connect(cluster.url, name="test")
    try:
        js = nc.jetstream(timeout=1.0)
        for spec in ALL_STREAMS:
            assert (await js.stream_info(spec.name)).cluster.leader
    finally:
        await nc.close()
