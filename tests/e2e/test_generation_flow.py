"""The walking skeleton's path, through HTTP, against the running platform:
gateway → JetStream → gpu-sdxl (tiny SDXL) → S3 → workspace projection → gateway."""

import io
import uuid

import httpx
import pytest
from PIL import Image

from atelier.inference.media import probe_video, read_png_parameters
from tests.helpers import client, count_events, job_assets

pytestmark = pytest.mark.e2e


async def submit(api: httpx.AsyncClient, **fields) -> str:
    body = {"model": "sdxl", "prompt": "a lighthouse at dusk", "steps": 3} | fields
    response = await api.post("/v1/generations", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert response.headers["location"] == f"/v1/generations/{response.json()['job_id']}"
    return response.json()["job_id"]


async def test_three_images_reach_the_workspace_as_valid_pngs(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        job_id = await submit(api, num_images=3, width=64, height=96, seed=1234)
        assets = await job_assets(api, job_id, 3)

    assert [asset["asset_index"] for asset in assets] == [0, 1, 2]
    async with httpx.AsyncClient(timeout=30) as anonymous:
        for asset in assets:
            assert asset["generation_seed"] == 1234 + asset["asset_index"]
            assert (asset["width"], asset["height"], asset["mime_type"]) == (64, 96, "image/png")
            assert f"/{user}/{job_id}/{asset['asset_index']}.png" in asset["file_url"]
            png = (await anonymous.get(asset["file_url"])).raise_for_status().content
            assert len(png) == asset["file_size_bytes"]
            with Image.open(io.BytesIO(png)) as image:
                assert (image.format, image.size) == ("PNG", (64, 96))
            assert read_png_parameters(png)["seed"] == asset["generation_seed"]
            thumbnail = (await anonymous.get(asset["thumbnail_url"])).raise_for_status()
            with Image.open(io.BytesIO(thumbnail.content)) as image:
                assert image.format == "WEBP"
                assert max(image.size) <= 256


async def test_the_workspace_lists_newest_first_in_pages_and_only_its_owners(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        first = await submit(api, num_images=2, width=64, height=64)
        await job_assets(api, first, 2)
        second = await submit(api, num_images=1, width=64, height=64)
        await job_assets(api, second, 1)

        page = (await api.get("/v1/workspace/assets", params={"limit": 2})).json()
        rest = (
            await api.get("/v1/workspace/assets", params={"cursor": page["next_cursor"]})
        ).json()
    listed = [(a["job_id"], a["asset_index"]) for a in page["items"] + rest["items"]]
    assert listed == [(second, 0), (first, 0), (first, 1)]
    assert rest["next_cursor"] is None

    async with client(platform) as stranger:
        assert (await stranger.get("/v1/workspace/assets")).json()["items"] == []


async def test_presigned_urls_are_required_to_read_objects(platform):
    async with client(platform) as api:
        job_id = await submit(api, num_images=1, width=64, height=64)
        (asset,) = await job_assets(api, job_id, 1)
    unsigned = asset["file_url"].split("?")[0]
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(unsigned)).status_code == 403
        assert (await anonymous.get(asset["file_url"] + "x")).status_code == 403


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"model": "sdxl", "prompt": "x", "num_images": 7}, "num_images"),
        ({"model": "sdxl", "prompt": "x", "width": 100}, "multiple of 8"),
        ({"model": "sdxl", "prompt": ""}, "prompt"),
        ({"model": "sdxl", "prompt": "x", "mode": "video"}, "images only"),
        ({"model": "sdxl", "prompt": "x", "surprise": True}, "surprise"),
        ({"prompt": "x"}, "model"),
    ],
)
async def test_bad_requests_get_problem_json_and_publish_nothing(platform, body, detail):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        response = await api.post("/v1/generations", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert detail in problem["detail"] or detail in str(problem["errors"])
    assert await count_events(platform, f"atelier.user.{user}.>") == 0


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer " + "e30." * 2]
)
async def test_requests_without_a_valid_token_are_401_and_publish_nothing(platform, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=platform.gateway_url) as anonymous:
        response = await anonymous.post(
            "/v1/generations", json={"model": "sdxl", "prompt": "x"}, headers=headers
        )
        listing = await anonymous.get("/v1/workspace/assets", headers=headers)
    assert response.status_code == listing.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_bad_cursor_is_a_400(platform):
    async with client(platform) as api:
        response = await api.get("/v1/workspace/assets", params={"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["title"] == "Bad cursor"


async def test_a_wan_video_reaches_the_workspace_as_an_h264_mp4(platform):
    async with client(platform) as api:
        job_id = await submit(
            api, model="wan", mode="video", num_frames=9, width=96, height=64, steps=2
        )
        (asset,) = await job_assets(api, job_id, 1)
    assert (asset["asset_type"], asset["mime_type"]) == ("video", "video/mp4")
    assert asset["duration_seconds"] == pytest.approx(9 / 16)
    async with httpx.AsyncClient(timeout=30) as anonymous:
        mp4 = (await anonymous.get(asset["file_url"])).raise_for_status().content
    video = probe_video(mp4)
    assert (video.codec, video.frames, video.width, video.height) == ("h264", 9, 96, 64)
