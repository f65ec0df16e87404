"""Racing commands through HTTP: exactly one of a conflicting pair wins, counts stay exact."""

import asyncio
import uuid

import asyncpg
import pytest

from tests.helpers import client, library_items, seeded_assets, settled

pytestmark = pytest.mark.e2e


async def test_save_and_discard_racing_exactly_one_wins(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        assets = await seeded_assets(platform, api, user, 5)
        for asset in assets:
            save, discard = await asyncio.gather(
                api.post(f"/v1/workspace/assets/{asset['id']}/save"),
                api.delete(f"/v1/workspace/assets/{asset['id']}"),
            )
            assert sorted([save.status_code, discard.status_code]) == [200, 409]
            loser = save if save.status_code == 409 else discard
            assert loser.headers["content-type"] == "application/problem+json"
        await settled(platform)
        saved = [a for a in await library_items(api)]
        remaining = (await api.get("/v1/workspace/assets")).json()["items"]
        assert len(saved) == len(remaining), "every winner of a save is kept in both places"


async def test_concurrent_saves_make_one_library_asset(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        replies = await asyncio.gather(
            *(api.post(f"/v1/workspace/assets/{asset['id']}/save") for _ in range(6))
        )
        assert {r.status_code for r in replies} == {200}
        assert len({r.json()["library_asset_id"] for r in replies}) == 1
        await settled(platform)
        assert len(await library_items(api)) == 1


async def test_racing_moves_keep_collection_counts_exact(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        assets = await seeded_assets(platform, api, user, 4)
        collections = [
            (await api.post("/v1/library/collections", json={"name": name})).json()["id"]
            for name in ("A", "B", "C")
        ]
        library_ids = [
            (await api.post(f"/v1/workspace/assets/{a['id']}/save")).json()["library_asset_id"]
            for a in assets
        ]
        await settled(platform)
        moves = [
            api.patch(f"/v1/library/assets/{library_id}", json={"collection_id": target})
            for _ in range(3)
            for library_id in library_ids
            for target in [*collections, None]
        ]
        replies = await asyncio.gather(*moves)
        assert {r.status_code for r in replies} <= {200, 409}
        await settled(platform)

    conn = await asyncpg.connect(platform.settings().database_url)
    try:
        stored = await conn.fetch(
            "SELECT c.id, c.asset_count, count(l.id) AS true_count "
            "FROM library.user_collections c "
            "LEFT JOIN library.user_library l ON l.collection_id = c.id "
            "WHERE c.user_id = $1 GROUP BY c.id",
            user,
        )
    finally:
        await conn.close()
    assert len(stored) == 3
    assert all(row["asset_count"] == row["true_count"] for row in stored), stored
