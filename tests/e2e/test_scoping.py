"""Every endpoint that takes an id, called by another user: 404 and nothing changes.

The routes with an id in their path are read from the gateway's own OpenAPI document:
a new one fails this test until the sweep calls it.
"""

import uuid

import pytest

from tests.helpers import (
    client,
    library_items,
    outcome,
    seeded_assets,
    settled,
    tiny_png,
    user_rows,
)
from tests.security.api_routes import QUICK_JOB, concrete_path, id_routes
from tests.security.figures import refused

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
        upload = await api.post(
            "/v1/uploads", content=tiny_png(), headers={"Content-Type": "image/png"}
        )
        upload_id = upload.json()["upload_id"]
        submitted = await api.post("/v1/generations", json=QUICK_JOB)
        job_id = submitted.json()["job_id"]
        await outcome(platform, owner, job_id)
        hook = await api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["library.*"]}
        )
        webhook_id = hook.json()["id"]
        await settled(platform)
        assert len(await library_items(api)) == 1
        assert (await api.get(f"/v1/generations/{job_id}")).status_code == 200
    before = await user_rows(platform, owner)

    # The owner's id of each kind, by path parameter, and what each route is sent.
    ids = {
        ("/v1/workspace/assets/{asset_id}", "asset_id"): kept["id"],
        ("/v1/library/assets/{asset_id}", "asset_id"): library_id,
        ("/v1/library/collections/{collection_id}", "collection_id"): collection["id"],
        ("/v1/generations/{job_id}", "job_id"): job_id,
        ("/v1/webhooks/{webhook_id}", "webhook_id"): webhook_id,
    }
    bodies = {
        ("PATCH", "/v1/library/assets/{asset_id}"): {"custom_title": "mine now"},
        ("PATCH", "/v1/library/collections/{collection_id}"): {"name": "x"},
    }

    def owners_path(template: str) -> str:
        for (prefix, name), value in ids.items():
            if template.startswith(prefix):
                return concrete_path(template, **{name: value})
        raise AssertionError(f"{template}: which of the owner's ids does it take? add it")

    async with client(platform, intruder) as other:
        swept = set()
        for method, template in sorted(id_routes()):
            response = await other.request(
                method, owners_path(template), json=bodies.get((method, template))
            )
            assert response.status_code == 404, (method, template, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            swept.add((method, template))
        assert swept == id_routes()

        # Ids in bodies and queries: the owner's images as references, the owner's
        # collection as a target, the owner's job to clear.
        for source in (
            {"asset_id": kept["id"]},
            {"library_asset_id": library_id},
            {"upload_id": upload_id},
        ):
            body = {"model": "sdxl", "prompt": "theirs", "reference_image": source}
            response = await other.post("/v1/generations", json=body)
            assert response.status_code == 404, (source, response.text)
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
    refused("another user's id", len(swept) + 5)

    await settled(platform)
    assert await user_rows(platform, owner) == before
    async with client(platform, owner) as api:
        (kept_hook,) = (await api.get("/v1/webhooks")).json()["items"]
        assert kept_hook["id"] == webhook_id
