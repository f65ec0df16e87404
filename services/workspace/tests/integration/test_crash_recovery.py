"""Kill the workspace service between two events: after restart every asset is
projected exactly once (the position and the rows are committed together)."""

import uuid

import asyncpg
import pytest

from atelier.contracts import examples
from atelier.contracts.registry import encode_event
from atelier.runtime.bus import EventBus, connect
from atelier.workspace.projection import WorkspaceProjection
from tests.helpers import eventually

pytestmark = pytest.mark.integration


async def rows_by_job(pool: asyncpg.Pool, user: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await pool.fetch(
        "SELECT job_id, count(*) AS n FROM workspace.workspace_assets "
        "WHERE user_id = $1 GROUP BY job_id",
        user,
    )
    return {row["job_id"]: row["n"] for row in rows}


async def test_kill_between_two_events_then_restart_projects_each_asset_once(platform):
    user = uuid.uuid4()
    first, second = examples.completed(user, num_images=3), examples.completed(user, num_images=2)
    workspace = platform.services["workspace"]
    nc = await connect(platform.settings().nats_url, name="test")
    pool = await asyncpg.create_pool(platform.settings().database_url, min_size=1, max_size=2)
    try:
        bus = EventBus(nc)
        await bus.publish(first)
        await eventually(lambda: _has(pool, user, {first.data.job_id: 3}))

        workspace.kill()
        last = await bus.publish(second)
        # The same fact published again past the dedup window (a different message id):
        # a redelivery the projection must absorb without doubling a row.
        await nc.jetstream().publish(
            first.subject, encode_event(first), headers={"Nats-Msg-Id": "replayed-later"}
        )
        workspace.start()

        await eventually(lambda: _has(pool, user, {first.data.job_id: 3, second.data.job_id: 2}))
        await eventually(lambda: _position_at_least(pool, last))
        assert await rows_by_job(pool, user) == {first.data.job_id: 3, second.data.job_id: 2}
    finally:
        await pool.close()
        await nc.close()


async def _has(pool, user, expected) -> bool:
    return await rows_by_job(pool, user) == expected


async def _position_at_least(pool, sequence: int) -> bool:
    position = await pool.fetchval(
        "SELECT min(position) FROM workspace.projection_positions WHERE projection = $1",
        WorkspaceProjection.name,
    )
    return position >= sequence
