"""Every workspace and library action through HTTP, against the running platform;
objects are checked in the buckets, not just rows."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from atelier.contracts.storage import LIBRARY_BUCKET, WORKSPACE_BUCKET
from tests.helpers import (
    client,
    eventually,
    library_asset,
    library_items,
    library_keys,
    objects_exist,
    seed_workspace,
    seeded_assets,
    settled,
    store,
    workspace_items,
)

pytestmark = pytest.mark.e2e


async def collection(api, collection_id: str) -> dict:
    items = (await api.get("/v1/library/collections")).json()["items"]
    return next(c for c in items if c["id"] == collection_id)


async def test_save_copies_the_files_into_the_library_once(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        first, _ = await seeded_assets(platform, api, user, 2)
        cats = (await api.post("/v1/library/collections", json={"name": "Cats"})).json()
        body = {"collection_id": cats["id"], "custom_title": "Tom", "tags": ["Cat", "pet"]}
        saved = await api.post(f"/v1/workspace/assets/{first['id']}/save", json=body)
        again = await api.post(f"/v1/workspace/assets/{first['id']}/save")
        assert saved.status_code == again.status_code == 200
        library_id = saved.json()["library_asset_id"]
        assert again.json()["library_asset_id"] == library_id

        asset = await library_asset(api, library_id)
        assert (asset["custom_title"], asset["tags"], asset["collection_id"]) == (
            "Tom", ["cat", "pet"], cats["id"],
        )  # fmt: skip
        assert asset["source_workspace_asset_id"] == first["id"]
        assert len(await library_items(api)) == 1, "saving twice made a second library asset"
        assert (await collection(api, cats["id"]))["asset_count"] == 1
        listed = {a["id"]: a for a in await workspace_items(api)}
        assert listed[first["id"]]["library_asset_id"] == library_id

    key, thumb = await library_keys(platform, user, library_id)
    assert (key.endswith(".png"), thumb.endswith(".thumb.webp")) == (True, True)
    async with store(platform) as s3:
        original = await s3.get(WORKSPACE_BUCKET, f"{user}/{first['job_id']}/0.png")
        assert await s3.get(LIBRARY_BUCKET, key) == original


async def test_listings_within_a_signing_window_give_the_same_urls(platform):
    """A browser or CDN caches a thumbnail by its URL: listings sign as of the start of a
    window (SIGNED_URL_WINDOW_SECONDS, 300 s), so the next listing gives the same URLs."""

    async def urls(api) -> list[tuple[str, str]]:
        return [(a["file_url"], a["thumbnail_url"]) for a in await workspace_items(api)]

    user = uuid.uuid4()
    async with client(platform, user) as api:
        await seeded_assets(platform, api, user, 2)
        first, second = await urls(api), await urls(api)
        if first != second:  # the two straddled a window's end: a third is in the second's
            first, second = second, await urls(api)
    assert first == second
    async with httpx.AsyncClient(timeout=10) as http:
        for file_url, thumbnail_url in first:
            assert (await http.get(file_url)).status_code == 200
            assert (await http.get(thumbnail_url)).status_code == 200


async def test_discard_removes_the_row_and_both_objects(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        doomed, kept = await seeded_assets(platform, api, user, 2)
        response = await api.delete(f"/v1/workspace/assets/{doomed['id']}")
        assert response.status_code == 200
        assert [a["id"] for a in await workspace_items(api)] == [kept["id"]]
        again = await api.delete(f"/v1/workspace/assets/{doomed['id']}")
        assert again.status_code in (404, 409)
    keys = [f"{user}/{doomed['job_id']}/0.png", f"{user}/{doomed['job_id']}/0.thumb.webp"]

    async def gone():
        return await objects_exist(platform, WORKSPACE_BUCKET, *keys) == [False, False]

    await eventually(gone)
    assert await objects_exist(platform, WORKSPACE_BUCKET, f"{user}/{kept['job_id']}/1.png")


async def test_a_saved_asset_cannot_be_discarded(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        await api.post(f"/v1/workspace/assets/{asset['id']}/save")
        refused = await api.delete(f"/v1/workspace/assets/{asset['id']}")
        assert refused.status_code == 409
        assert "library" in refused.json()["detail"]


async def test_clearing_a_job_saves_what_was_not_saved_then_empties_it(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        job = await seeded_assets(platform, api, user, 3)
        other = await seeded_assets(platform, api, user, 1)
        await api.post(f"/v1/workspace/assets/{job[0]['id']}/save", json={"tags": ["keep"]})
        cleared = await api.post("/v1/workspace/clear", json={"job_id": job[0]["job_id"]})
        assert cleared.json() == {"saved": 2, "removed": 3}
        assert [a["id"] for a in await workspace_items(api)] == [other[0]["id"]]

        async def all_in_library():
            items = await library_items(api)
            return items if len(items) == 3 else None

        items = await all_in_library() or await eventually(all_in_library)
        assert {a["source_workspace_asset_id"] for a in items} == {a["id"] for a in job}
        assert [a["tags"] for a in items if a["source_workspace_asset_id"] == job[0]["id"]] == [
            ["keep"]
        ]
    job_keys = [f"{user}/{job[0]['job_id']}/{i}.png" for i in range(3)]

    async def workspace_files_gone():
        return not any(await objects_exist(platform, WORKSPACE_BUCKET, *job_keys))

    await eventually(workspace_files_gone)
    for item in items:
        assert len(await library_keys(platform, user, item["id"])) == 2, "clear lost a file"


async def test_clearing_the_workspace_loses_nothing(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        await seeded_assets(platform, api, user, 2)
        await seeded_assets(platform, api, user, 2)
        cleared = (await api.post("/v1/workspace/clear")).json()
        assert cleared == {"saved": 4, "removed": 4}
        assert await workspace_items(api) == []

        async def four():
            return len(await library_items(api)) == 4

        await eventually(four)


async def test_expired_assets_leave_and_their_files_are_deleted(platform):
    user = uuid.uuid4()
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    completed = await seed_workspace(platform, user, 2, occurred_at=eight_days_ago)
    keys = [a.storage_key for a in completed.data.assets]
    keys += [a.thumbnail_key for a in completed.data.assets]

    async def files_gone():
        return not any(await objects_exist(platform, WORKSPACE_BUCKET, *keys))

    await eventually(files_gone)
    async with client(platform, user) as api:
        assert await workspace_items(api) == []


async def test_library_filters_and_pages(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        assets = await seeded_assets(platform, api, user, 4)
        titles = ["red fox", "blue whale", "red panda", None]
        for asset, title in zip(assets, titles, strict=True):
            tags = ["animal", "red"] if title and "red" in title else ["animal"]
            body = {"custom_title": title, "tags": tags} if title else {}
            await api.post(f"/v1/workspace/assets/{asset['id']}/save", json=body)

        async def all_four():
            return len(await library_items(api)) == 4

        await eventually(all_four)
        library = await library_items(api)
        favourite = next(a for a in library if a["custom_title"] == "blue whale")
        patched = await api.patch(
            f"/v1/library/assets/{favourite['id']}", json={"is_favorite": True}
        )
        assert patched.status_code == 200
        assert patched.json()["is_favorite"] is True

        async def titles_of(**params):
            return sorted(str(a["custom_title"]) for a in await library_items(api, **params))

        assert await titles_of(q="red") == ["red fox", "red panda"]
        assert await titles_of(q="lighthouse") == ["None", "blue whale", "red fox", "red panda"]
        assert await titles_of(tag="red") == ["red fox", "red panda"]
        assert await titles_of(asset_type="video") == []

        async def favourites():
            return await titles_of(favorite="true") == ["blue whale"]

        await eventually(favourites)
        first = (await api.get("/v1/library/assets", params={"limit": 3})).json()
        rest = (await api.get("/v1/library/assets", params={"cursor": first["next_cursor"]})).json()
        paged = [a["id"] for a in first["items"] + rest["items"]]
        assert sorted(paged) == sorted(a["id"] for a in library)
        assert len(paged) == 4
        assert rest["next_cursor"] is None


async def test_moves_between_collections_keep_counts_exact(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        assets = await seeded_assets(platform, api, user, 3)
        a = (await api.post("/v1/library/collections", json={"name": "A"})).json()
        b = (await api.post("/v1/library/collections", json={"name": "B"})).json()
        ids = []
        for asset in assets:
            saved = await api.post(
                f"/v1/workspace/assets/{asset['id']}/save", json={"collection_id": a["id"]}
            )
            ids.append(saved.json()["library_asset_id"])
        for library_id in ids:
            await library_asset(api, library_id)
        moved = await api.patch(f"/v1/library/assets/{ids[0]}", json={"collection_id": b["id"]})
        out = await api.patch(f"/v1/library/assets/{ids[1]}", json={"collection_id": None})
        assert moved.status_code == out.status_code == 200

        async def counts():
            return [(await collection(api, c["id"]))["asset_count"] for c in (a, b)] == [1, 1]

        await eventually(counts)
        renamed = await api.patch(
            f"/v1/library/collections/{a['id']}", json={"name": "Alpha", "description": "first"}
        )
        assert (renamed.json()["name"], renamed.json()["description"]) == ("Alpha", "first")
        assert (await api.delete(f"/v1/library/collections/{b['id']}")).status_code == 200

        async def b_gone_asset_kept():
            items = {x["id"]: x for x in await library_items(api)}
            names = [c["name"] for c in (await api.get("/v1/library/collections")).json()["items"]]
            return names == ["Alpha"] and items[ids[0]]["collection_id"] is None

        await eventually(b_gone_asset_kept)
        assert len(await library_items(api, collection_id=a["id"])) == 1


async def test_deleting_a_library_asset_removes_row_and_objects_and_it_can_be_saved_again(
    platform,
):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        library_id = (await api.post(f"/v1/workspace/assets/{asset['id']}/save")).json()[
            "library_asset_id"
        ]
        await library_asset(api, library_id)
        assert (await api.delete(f"/v1/library/assets/{library_id}")).status_code == 200
        assert await library_items(api) == []

        async def files_gone():
            return not await library_keys(platform, user, library_id)

        await eventually(files_gone)

        async def unsaved():
            (item,) = await workspace_items(api)
            return item["library_asset_id"] is None

        await eventually(unsaved)
        again = await api.post(f"/v1/workspace/assets/{asset['id']}/save")
        assert again.status_code == 200
        await library_asset(api, again.json()["library_asset_id"])


async def test_copy_to_workspace_makes_a_new_workspace_asset_with_its_own_files(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        library_id = (await api.post(f"/v1/workspace/assets/{asset['id']}/save")).json()[
            "library_asset_id"
        ]
        await library_asset(api, library_id)
        copied = await api.post(f"/v1/library/assets/{library_id}/copy-to-workspace")
        assert copied.status_code == 202
        copy_id = copied.json()["workspace_asset_id"]

        async def listed():
            items = {a["id"]: a for a in await workspace_items(api)}
            return items.get(copy_id)

        copy = await eventually(listed)
        assert copy["job_id"] is None
        assert copy["original_prompt"] == asset["original_prompt"]
    assert await objects_exist(
        platform,
        WORKSPACE_BUCKET,
        f"{user}/copies/{copy_id}.png",
        f"{user}/copies/{copy_id}.thumb.webp",
    ) == [True, True]


async def test_clearing_after_the_library_copy_was_deleted_saves_it_again_first(platform):
    """Found by the property test: the old, deleted copy must not count as the new one."""
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        saved = await api.post(f"/v1/workspace/assets/{asset['id']}/save")
        library_id = saved.json()["library_asset_id"]
        await library_asset(api, library_id)
        await api.delete(f"/v1/library/assets/{library_id}")

        async def unsaved():
            (item,) = await workspace_items(api)
            return item["library_asset_id"] is None

        await eventually(unsaved)
        cleared = await api.post("/v1/workspace/clear")
        assert cleared.json() == {"saved": 1, "removed": 1}
        again = await library_asset(api, library_id)
    assert len(await library_keys(platform, user, library_id)) == 2, "the new copy's files"
    assert again["source_workspace_asset_id"] == asset["id"]


async def test_a_copy_deleted_right_after_clearing_lets_the_workspace_files_go(platform):
    """Found by the property test: a cleared asset's files wait for the library's copy of
    that save, not for the copy to still exist."""
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        await api.post("/v1/workspace/clear")
        (stored,) = await eventually(lambda: library_items(api))
        assert (await api.delete(f"/v1/library/assets/{stored['id']}")).status_code == 200
    await settled(platform)
    workspace_keys = [f"{user}/{asset['job_id']}/0.png", f"{user}/{asset['job_id']}/0.thumb.webp"]
    assert await objects_exist(platform, WORKSPACE_BUCKET, *workspace_keys) == [False, False]
    assert await library_keys(platform, user, stored["id"]) == []
