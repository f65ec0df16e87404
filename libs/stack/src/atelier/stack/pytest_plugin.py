"""Pytest fixtures over real servers, shared by every test directory of the repo.

- `servers`: NATS, PostgreSQL and S3 for the whole session (embedded unless the
  environment points at external ones, or ATELIER_STACK=containers).
- `platform`: every service running as a child process on those servers.
- `private_nats`: a NATS server of a test's own, for tests that need an empty log.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from atelier.runtime.bus import connect, ensure_streams
from atelier.stack.platform import Platform
from atelier.stack.servers import EmbeddedNats, Endpoints, StackUnavailable, start_stack_servers


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    try:
        endpoints, stop = start_stack_servers(tmp_path_factory.mktemp("servers"), os.environ)
    except StackUnavailable as reason:
        pytest.skip(str(reason))
    try:
        yield endpoints
    finally:
        stop()


@pytest.fixture(scope="session")
def platform(servers: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform")
    # Sweep expired assets every second, redeliver a dead worker's job after 6 s, send
    # heartbeats on idle event streams every 2 s, limit users to 5 active jobs and 20
    # submits a minute, free a slot its gateway never used after 5 s: all observable
    # within a test.
    fast = {
        "SWEEP_INTERVAL_SECONDS": "1",
        "ACK_WAIT_SECONDS": "6",
        "SSE_HEARTBEAT_SECONDS": "2",
        "MAX_ACTIVE_JOBS_PER_USER": "5",
        "SUBMITS_PER_MINUTE_PER_USER": "20",
        "ACTIVE_JOBS_RECONCILE_SECONDS": "1",
        "ADMISSION_GRACE_SECONDS": "5",
    }
    with Platform(data_dir, os.environ, endpoints=servers, service_env=fast) as running:
        yield running
        crashed = {s.name: str(s.last_exit) for s in running.services.values() if s.last_exit}
    # The supervisor restarts a service that dies; a test run must still hear of it.
    assert not crashed, f"services exited though nobody stopped them: {crashed}"


@pytest.fixture
def private_nats(tmp_path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def private_nc(private_nats: EmbeddedNats) -> AsyncIterator:
    """A connection to a private NATS whose streams are provisioned and empty."""
    nc = await connect(private_nats.url, name="test")
    await ensure_streams(nc)
    try:
        yield nc
    finally:
        await nc.close()
