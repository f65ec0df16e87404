"""What the runtime's integration tests share: a pool, and a schema of each test's own."""

import uuid

import asyncpg
import pytest


@pytest.fixture
async def pool(servers):
    pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def schema() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"
