"""The embedded NATS, PostgreSQL and S3 servers, for real: start, talk, restart, kill, recover."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aioboto3
import asyncpg
import httpx
import nats
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from atelier.stack.servers import (
    EmbeddedPostgres,
    EmbeddedServers,
    Endpoints,
    StackUnavailable,
    start_stack_servers,
)

pytestmark = pytest.mark.integration

STREAM, SUBJECT = "STACKTEST", "stacktest.event"
BUCKET = "stack-test"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    with EmbeddedServers(tmp_path_factory.mktemp("stack")) as servers:
        yield servers
    assert not any(server.running for server in servers.servers)
    ports = [*servers.s3.ports.values(), servers.s3.ports["s3-admin"] + 10000]
    assert not [p for port in ports for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]


def s3_client(endpoints: Endpoints, secret_key: str | None = None):
    return aioboto3.Session().client(
        "s3",
        endpoint_url=endpoints.s3_endpoint_url,
        aws_access_key_id=endpoints.s3_access_key,
        aws_secret_access_key=secret_key or endpoints.s3_secret_key,
        region_name=endpoints.s3_region,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def processes(servers: EmbeddedServers) -> list[psutil.Process]:
    """Every process of the three servers (postgres has children)."""
    found = []
    for server in servers.servers:
        assert server.pid is not None, server.name
        leader = psutil.Process(server.pid)
        found += [leader, *leader.children(recursive=True)]
    return found


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def write_marks(endpoints: Endpoints, mark: str) -> None:
    """One JetStream message, one table row and one object, each labelled `mark`."""
    nc = await nats.connect(endpoints.nats_url)
    try:
        ack = await nc.jetstream().publish(SUBJECT, mark.encode(), stream=STREAM)
        assert ack.stream == STREAM
    finally:
        await nc.close()
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        await conn.execute("INSERT INTO marks (mark) VALUES ($1)", mark)
    finally:
        await conn.close()
    async with s3_client(endpoints) as s3:
        await s3.put_object(Bucket=BUCKET, Key=f"marks/{mark}", Body=mark.encode())


async def read_marks(endpoints: Endpoints) -> dict[str, list[str]]:
    nc = await nats.connect(endpoints.nats_url)
    try:
        js = nc.jetstream()
        count = (await js.stream_info(STREAM)).state.messages
        messages = [(await js.get_msg(STREAM, seq)).data.decode() for seq in range(1, count + 1)]
    finally:
        await nc.close()
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        rows = [r["mark"] for r in await conn.fetch("SELECT mark FROM marks ORDER BY id")]
    finally:
        await conn.close()
    async with s3_client(endpoints) as s3:
        listing = await s3.list_objects_v2(Bucket=BUCKET, Prefix="marks/")
        objects = []
        for item in listing.get("Contents", []):
            got = await s3.get_object(Bucket=BUCKET, Key=item["Key"])
            objects.append((await got["Body"].read()).decode())
    return {"nats": messages, "postgres": rows, "s3": sorted(objects)}


def test_three_servers_listen_on_loopback_only(stack: EmbeddedServers) -> None:
    ports = json.loads((stack.data_dir / "ports.json").read_text())
    endpoints = stack.endpoints
    nats_url = urlsplit(endpoints.nats_url)  # nats://admin:PASSWORD@127.0.0.1:PORT
    assert (nats_url.username, nats_url.hostname, nats_url.port) == (
        "admin",
        "127.0.0.1",
        ports["nats"],
    )
    assert endpoints.database_url == f"postgresql://postgres@127.0.0.1:{ports['postgres']}/atelier"
    assert endpoints.s3_endpoint_url == f"http://127.0.0.1:{ports['s3']}"
    listening = {  # the leaders hold the listeners (postgres backends come and go)
        (conn.laddr.ip, conn.laddr.port)
        for server in stack.servers
        for conn in psutil.Process(server.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert {ip for ip, _ in listening} == {"127.0.0.1"}
    # every port weed mini opens is one we chose (and recorded)
    assert {port for _, port in listening} <= {*ports.values(), ports["s3-admin"] + 10000}
    assert all((stack.data_dir / "logs" / f"{name}.log").exists() for name in ("nats", "s3"))


async def test_nats_jetstream(stack: EmbeddedServers) -> None:
    nc = await nats.connect(stack.endpoints.nats_url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        assert info.limits is not None
        await js.add_stream(name=STREAM, subjects=[SUBJECT])
        ack = await js.publish(SUBJECT, b"first")
        assert (ack.stream, ack.seq) == (STREAM, 1)
    finally:
        await nc.close()


async def test_postgres(stack: EmbeddedServers) -> None:
    conn = await asyncpg.connect(stack.endpoints.database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "atelier"
        assert (await conn.fetchval("SHOW server_version")).startswith("18.")
        await conn.execute("CREATE TABLE marks (id serial PRIMARY KEY, mark text NOT NULL)")
        await conn.execute("INSERT INTO marks (mark) VALUES ('first')")
    finally:
        await conn.close()


async def test_s3_with_credentials_presigned_and_anonymous(stack: EmbeddedServers) -> None:
    endpoints = stack.endpoints
    async with s3_client(endpoints) as s3:
        await s3.create_bucket(Bucket=BUCKET)
        await s3.put_object(Bucket=BUCKET, Key="marks/first", Body=b"first")
        got = await s3.get_object(Bucket=BUCKET, Key="marks/first")
        assert await got["Body"].read() == b"first"
        url = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "marks/first"}, ExpiresIn=60
        )
        with pytest.raises(ClientError, match="NoSuchBucket"):  # no bucket made on upload
            await s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")
    async with httpx.AsyncClient() as http:
        presigned = await http.get(url)
        assert presigned.status_code == 200, presigned.text
        assert presigned.content == b"first"
        anonymous = await http.get(f"{endpoints.s3_endpoint_url}/{BUCKET}/marks/first")
        assert anonymous.status_code == 403
    async with s3_client(endpoints, secret_key="wrong" * 8) as s3:
        with pytest.raises(ClientError, match=r"SignatureDoesNotMatch|AccessDenied"):
            await s3.list_buckets()


async def test_stop_then_start_keeps_data_and_ports(stack: EmbeddedServers) -> None:
    before = stack.endpoints
    stack.stop()
    stack.stop()  # idempotent
    assert not any(server.running for server in stack.servers)
    stack.start()
    assert stack.endpoints == before
    assert await read_marks(stack.endpoints) == {
        "nats": ["first"],
        "postgres": ["first"],
        "s3": ["first"],
    }


async def test_kill_then_start_recovers(stack: EmbeddedServers) -> None:
    await write_marks(stack.endpoints, "second")
    victims = processes(stack)
    stack.kill()
    assert not any(server.running for server in stack.servers)
    assert not any(alive(proc) for proc in victims)
    stack.start()
    assert await read_marks(stack.endpoints) == {
        "nats": ["first", "second"],
        "postgres": ["first", "second"],
        "s3": ["first", "second"],
    }


async def test_two_stacks_side_by_side(stack: EmbeddedServers, tmp_path: Path) -> None:
    endpoints, stop = start_stack_servers(tmp_path / "other", env={})
    try:
        mine = set(json.loads((stack.data_dir / "ports.json").read_text()).values())
        theirs = set(json.loads((tmp_path / "other" / "ports.json").read_text()).values())
        assert not mine & theirs
        assert endpoints.s3_access_key != stack.endpoints.s3_access_key
        conn = await asyncpg.connect(endpoints.database_url)
        try:
            assert (
                await conn.fetchval("SELECT count(*) FROM pg_tables WHERE tablename='marks'") == 0
            )
        finally:
            await conn.close()
        nc = await nats.connect(endpoints.nats_url)
        try:
            assert (await nc.jetstream().account_info()).streams == 0
        finally:
            await nc.close()
        async with s3_client(endpoints) as s3:
            assert (await s3.list_buckets())["Buckets"] == []
    finally:
        stop()
    assert stack.running


@pytest.mark.skipif(os.geteuid() != 0, reason="the postgres user differs from ours only as root")
async def test_postgres_below_a_root_only_directory(tmp_path: Path) -> None:
    """Like /tmp/pytest-of-root, which each new pytest session chmods back to 0700."""
    (tmp_path / "private").mkdir(mode=0o700)
    server = EmbeddedPostgres(tmp_path / "private" / "data")
    server.start()
    try:
        (tmp_path / "private").chmod(0o700)
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    finally:
        server.stop()
    (tmp_path / "private").chmod(0o700)
    server.start()  # and again, from a cold start
    server.stop()


def test_external_servers_from_env(tmp_path: Path) -> None:
    env = {
        "NATS_URL": "nats://db.example:4222",
        "DATABASE_URL": "postgresql://u:p@db.example/atelier",
        "S3_ENDPOINT_URL": "https://s3.example",
        "S3_ACCESS_KEY_ID": "key",
        "S3_SECRET_ACCESS_KEY": "secret",
    }
    endpoints, stop = start_stack_servers(tmp_path / "unused", env=env)
    assert endpoints.as_env() == {**env, "S3_REGION": "us-east-1"}
    stop()
    assert not (tmp_path / "unused").exists()  # nothing embedded was started
    with pytest.raises(ValueError, match="S3_SECRET_ACCESS_KEY"):
        start_stack_servers(tmp_path, env={k: v for k, v in env.items() if "SECRET" not in k})


def test_containers_provider(tmp_path: Path) -> None:
    try:
        endpoints, stop = start_stack_servers(tmp_path, env={"ATELIER_STACK": "containers"})
    except StackUnavailable as exc:
        pytest.skip(str(exc))
    try:
        assert endpoints.nats_url.startswith("nats://")
    finally:
        stop()
