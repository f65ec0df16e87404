""" "Use these settings again", through HTTP against the running platform: every asset
shows the settings that made it, `remix_of` starts a job from them with overrides, and an
uploaded Atelier PNG gives its settings back."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image

from atelier.contracts.storage import WORKSPACE_BUCKET
from tests.helpers import client, count_events, job_assets, library_asset, store, tiny_png

pytestmark = pytest.mark.e2e

FIRST = {
    "model": "sdxl",
    "prompt": "a lighthouse at dusk",
    "negative_prompt": "fog",
    "steps": 3,
    "width": 64,
    "height": 96,
    "seed": 1234,
    "num_images": 2,
}


async def submit(api: httpx.AsyncClient, body: dict, **headers: str) -> str:
    response = await api.post("/v1/generations", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


async def job(api: httpx.AsyncClient, job_id: str) -> dict:
    response = await api.get(f"/v1/generations/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def upload(api: httpx.AsyncClient, data: bytes) -> dict:
    response = await api.post("/v1/uploads", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 201, response.text
    return response.json()


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        return (await anonymous.get(url)).raise_for_status().content


def remixed_spec(spec: dict, **changes) -> dict:
    """A job's spec as a remix of one of its images makes it: one image, that image's seed."""
    return spec | {"num_images": 1} | changes


async def test_a_workspace_asset_remixes_with_its_settings_and_only_the_overrides(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        first = await submit(api, FIRST)
        _, second_image = await job_assets(api, first, 2)
        assert second_image["settings"] == {
            "prompt": "a lighthouse at dusk",
            "negative_prompt": "fog",
            "model": "sdxl",
            "mode": "image",
            "quality": "fast",
            "width": 64,
            "height": 96,
            "steps": 3,
            "guidance_scale": 6.0,
            "seed": 1235,  # the image's own, not the job's
            "num_frames": None,
            "fps": None,
            "reference": None,
        }
        original = (await job(api, first))["spec"]

        remix_of = {"asset_id": second_image["id"]}
        again = await submit(api, {"remix_of": remix_of, "steps": 2})
        remix = await job(api, again)
        assert remix["spec"] == remixed_spec(original, seed=1235, steps=2)
        assert remix["remix_of"] == remix_of | {"library_asset_id": None}
        assert (await job(api, first))["remix_of"] is None
        (made,) = await job_assets(api, again, 1)
        assert made["generation_seed"] == 1235
        assert made["settings"] == second_image["settings"] | {"steps": 2}

        # The same settings, nothing overridden: the same picture.
        same = await submit(api, {"remix_of": remix_of})
        assert (await job(api, same))["spec"] == remixed_spec(original, seed=1235)
        (copy,) = await job_assets(api, same, 1)
        pixels = [await download(asset["file_url"]) for asset in (second_image, copy)]
        with Image.open(io.BytesIO(pixels[0])) as a, Image.open(io.BytesIO(pixels[1])) as b:
            assert a.tobytes() == b.tobytes()


async def test_a_library_asset_remixes_and_shows_its_settings(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        first = await submit(api, FIRST | {"num_images": 1})
        (asset,) = await job_assets(api, first, 1)
        saved = await api.post(f"/v1/workspace/assets/{asset['id']}/save")
        assert saved.status_code == 200, saved.text
        library_id = saved.json()["library_asset_id"]
        in_library = await library_asset(api, library_id)
        assert in_library["settings"] == asset["settings"]

        remix_of = {"library_asset_id": library_id}
        body = {"remix_of": remix_of, "prompt": "a lighthouse at dawn", "num_images": 2}
        again = await submit(api, body)
        remix = await job(api, again)
        original = (await job(api, first))["spec"]
        assert remix["spec"] == original | {"prompt": "a lighthouse at dawn", "num_images": 2}
        assert remix["remix_of"] == remix_of | {"asset_id": None}


async def test_a_remix_keeps_idempotency_by_the_body_as_sent(platform):
    async with client(platform) as api:
        first = await submit(api, FIRST | {"num_images": 1})
        (asset,) = await job_assets(api, first, 1)
        body = {"remix_of": {"asset_id": asset["id"]}, "steps": 2}
        key = {"Idempotency-Key": f"remix-{uuid.uuid4()}"}
        assert await submit(api, body, **key) == await submit(api, body, **key)
        other = await api.post("/v1/generations", json=body | {"quality": "fast"}, headers=key)
        assert other.status_code == 422
        assert other.json()["title"] == "Idempotency key reused"


async def test_another_users_or_an_unknown_asset_is_not_found(platform):
    owner = uuid.uuid4()
    async with client(platform, owner) as api:
        first = await submit(api, FIRST | {"num_images": 1})
        (asset,) = await job_assets(api, first, 1)
        saved = (await api.post(f"/v1/workspace/assets/{asset['id']}/save")).json()
        await library_asset(api, saved["library_asset_id"])
    stranger = uuid.uuid4()
    async with client(platform, stranger) as api:
        for remix_of in (
            {"asset_id": asset["id"]},
            {"library_asset_id": saved["library_asset_id"]},
            {"asset_id": str(uuid.uuid4())},
        ):
            response = await api.post("/v1/generations", json={"remix_of": remix_of})
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "remix_of" in response.json()["detail"]
    assert await count_events(platform, f"atelier.user.{stranger}.>") == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"remix_of": {"asset_id": str(uuid.uuid4()), "library_asset_id": str(uuid.uuid4())}},
         "remix_of"),
        ({"remix_of": {}}, "remix_of"),
        ({"remix_of": {"upload_id": str(uuid.uuid4())}}, "remix_of"),
        ({"remix_of": {"asset_id": "not-a-uuid"}}, "remix_of"),
        ({"model": "sdxl"}, "prompt"),
    ],
)  # fmt: skip
async def test_a_malformed_remix_is_a_422_naming_the_field(platform, body, detail):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        response = await api.post("/v1/generations", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)
    assert await count_events(platform, f"atelier.user.{user}.>") == 0


async def test_an_out_of_bounds_merge_is_refused_like_any_request(platform):
    async with client(platform) as api:
        first = await submit(api, FIRST | {"num_images": 1})
        (asset,) = await job_assets(api, first, 1)
        response = await api.post(
            "/v1/generations", json={"remix_of": {"asset_id": asset["id"]}, "mode": "video"}
        )
    assert response.status_code == 422
    assert "images only" in response.json()["detail"]


async def test_a_carried_reference_must_still_exist(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        uploaded = await upload(api, tiny_png(3))
        reference = {"upload_id": uploaded["upload_id"], "mode": "modify"}
        first = await submit(
            api, FIRST | {"num_images": 1, "steps": 15, "reference_image": reference}
        )
        (asset,) = await job_assets(api, first, 1)
        carried = asset["settings"]["reference"]
        assert carried["image"]["bucket"] == WORKSPACE_BUCKET
        assert carried["mode"] == "modify"

        again = await submit(api, {"remix_of": {"asset_id": asset["id"]}})
        assert (await job(api, again))["spec"]["reference"] == carried

        async with store(platform) as s3:
            await s3.delete(WORKSPACE_BUCKET, carried["image"]["key"])
        gone = await api.post("/v1/generations", json={"remix_of": {"asset_id": asset["id"]}})
        assert gone.status_code == 404, gone.text
        assert "reference_image" in gone.json()["detail"]
        without = {"remix_of": {"asset_id": asset["id"]}, "reference_image": None}
        assert (await job(api, await submit(api, without)))["spec"]["reference"] is None


async def test_an_uploaded_atelier_png_gives_its_settings_back(platform):
    async with client(platform) as api:
        first = await submit(api, FIRST | {"num_images": 1})
        (asset,) = await job_assets(api, first, 1)
        uploaded = await upload(api, await download(asset["file_url"]))
        assert uploaded["parameters"] == asset["settings"]
        assert (await upload(api, tiny_png()))["parameters"] is None
