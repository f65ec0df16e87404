"""Pytest fixtures over real servers, shared by every test directory of the repo.

- `servers`: NATS, PostgreSQL and S3 for the whole session (embedded unless the
  environment points at external ones, or ATELIER_STACK=containers).
- `private_nats`: a NATS server of a test's own, for tests that need an empty log.
- `private_nc`: a connection to it, its streams provisioned.

The whole platform running on `servers` is `atelier.platform.pytest_plugin`'s `platform`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from atelier.runtime.bus import connect, ensure_streams
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
