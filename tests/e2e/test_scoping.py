"""Every endpoint that takes an id, called by another user: 404 and nothing changes."""

import uuid

import pytest

from tests.helpers import client, library_items, seeded_assets, settled, user_rows

pytestmark = pytest.mark.e2e


async def test_another_users_ids_are_not_found_and_change_nothing(platform):
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    async with client(platform, owner) as api:
        kept, saved = await seeded_assets(platform, api, owner, 2)
        collection = (await api.post("/v1/library/collections", json={"name": "Mine"})).json()
        library_id = (
            await api.post(
                f"/v1/workspace/assets/{saved['id']}/save",
                json={"collection_id": collection["id"]},
            )
        ).json()["library_asset_id"]
        await settled(platform)
        assert len(await library_items(api)) == 1
    before = await user_rows(platform, owner)

    async with client(platform, intruder) as other:
        attempts = [
            other.post(f"/v1/workspace/assets/{kept['id']}/save"),
            other.delete(f"/v1/workspace/assets/{kept['id']}"),
            other.patch(f"/v1/library/assets/{library_id}", json={"custom_title": "mine now"}),
            other.delete(f"/v1/library/assets/{library_id}"),
            other.post(f"/v1/library/assets/{library_id}/copy-to-workspace"),
            other.patch(f"/v1/library/collections/{collection['id']}", json={"name": "x"}),
            other.delete(f"/v1/library/collections/{collection['id']}"),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, (response.request.url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        # Their own asset, into the owner's collection: the collection is not theirs.
        (theirs,) = await seeded_assets(platform, other, intruder, 1)
        response = await other.post(
            f"/v1/workspace/assets/{theirs['id']}/save",
            json={"collection_id": collection["id"]},
        )
        assert response.status_code == 404
        cleared = await other.post("/v1/workspace/clear", json={"job_id": kept["job_id"]})
        assert cleared.json() == {"saved": 0, "removed": 0}
        assert await library_items(other, collection_id=collection["id"]) == []
        assert (await other.get("/v1/library/collections")).json()["items"] == []

    await settled(platform)
    assert await user_rows(platform, owner) == before
