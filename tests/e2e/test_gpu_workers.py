"""The GPU services through HTTP with the tiny pipelines: img2img and image-to-video from
the user's own images, cancellation, poison, and a worker killed in the middle of a job."""

import asyncio
import base64
import io
import json
import re
import uuid

import httpx
import pytest
from PIL import Image

from atelier.contracts import subjects
from atelier.contracts.generation import GenerationCancelled, GenerationCompleted
from atelier.contracts.streams import DEAD_LETTERS, EVENTS
from atelier.inference.media import probe_video, read_png_parameters
from atelier.runtime.dead_letters import REASON
from tests.helpers import (
    bus,
    client,
    count_events,
    eventually,
    job_assets,
    library_keys,
    outcome,
    settled,
    tiny_png,
)

pytestmark = pytest.mark.e2e


def picture(color: tuple[int, int, int], size=(96, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


async def upload(api: httpx.AsyncClient, data: bytes, content_type: str = "image/png") -> str:
    response = await api.post("/v1/uploads", content=data, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    return response.json()["upload_id"]


async def generate(api: httpx.AsyncClient, **fields) -> str:
    body = {"model": "sdxl", "prompt": "a lighthouse at dusk", "width": 64, "height": 64} | fields
    response = await api.post("/v1/generations", json=body)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        return (await anonymous.get(url)).raise_for_status().content


async def test_img2img_from_workspace_and_library_assets_and_from_an_upload(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        source = await generate(api, steps=2)
        (asset,) = await job_assets(api, source, 1)
        modified = await generate(
            api, reference_image={"asset_id": asset["id"], "mode": "modify"}, seed=7
        )
        copied = await generate(
            api,
            reference_image={
                "upload_id": await upload(api, picture((200, 30, 30))),
                "mode": "exact_copy",
            },
            seed=7,
        )
        library_id = (await api.post(f"/v1/workspace/assets/{asset['id']}/save")).json()[
            "library_asset_id"
        ]
        await settled(platform)
        from_library = await generate(api, reference_image={"library_asset_id": library_id})
        (modify,) = await job_assets(api, modified, 1)
        (exact,) = await job_assets(api, copied, 1)
        (kept,) = await job_assets(api, from_library, 1)

    parameters = read_png_parameters(await download(modify["file_url"]))
    assert parameters["reference"]["mode"] == "modify"
    assert "image" not in parameters["reference"]  # its key names the owner; files get shared
    assert modify["settings"]["reference"]["image"]["key"] == f"{user}/{source}/0.png"
    assert (parameters["steps"], parameters["guidance_scale"]) == (20, 5.5)
    assert 0.35 <= parameters["reference"]["strength"] <= 0.65
    library_reference = kept["settings"]["reference"]
    assert library_reference["image"]["bucket"] == "user-library"
    assert library_reference["image"]["key"] in await library_keys(platform, user, library_id)
    exact_parameters = read_png_parameters(await download(exact["file_url"]))
    assert (exact_parameters["guidance_scale"], exact_parameters["steps"]) == (1.0, 6)
    assert exact_parameters["reference"]["strength"] <= 0.05


async def test_references_must_be_the_users_own_images_within_the_modes_bounds(platform):
    owner, other = uuid.uuid4(), uuid.uuid4()
    async with client(platform, owner) as api:
        (asset,) = await job_assets(api, await generate(api, steps=2), 1)
        mine = await upload(api, picture((0, 0, 255)))
        too_strong = await api.post(
            "/v1/generations",
            json={"model": "sdxl", "prompt": "x", "reference_image": {"upload_id": mine,
                  "mode": "exact_copy", "strength": 0.5}},
        )  # fmt: skip
        assert too_strong.status_code == 422
        assert "exact_copy: strength" in too_strong.json()["detail"]
    async with client(platform, other) as intruder:
        for reference in ({"asset_id": asset["id"]}, {"upload_id": mine}):
            response = await intruder.post(
                "/v1/generations",
                json={"model": "sdxl", "prompt": "x", "reference_image": reference},
            )
            assert response.status_code == 404, response.text
        not_an_image = await intruder.post(
            "/v1/uploads", content=b"GIF89a not really", headers={"Content-Type": "image/png"}
        )
        assert not_an_image.status_code == 422
        wrong_type = await intruder.post(
            "/v1/uploads", content=b"{}", headers={"Content-Type": "application/json"}
        )
        assert wrong_type.status_code == 415
    assert await count_events(platform, f"atelier.user.{other}.>") == 0


async def test_wan_applies_the_start_and_end_frames(platform):
    async with client(platform) as api:
        red, blue = (
            await upload(api, picture((220, 20, 20))),
            await upload(api, picture((20, 20, 220))),
        )
        common = {"model": "wan", "mode": "video", "num_frames": 5, "width": 64, "height": 64,
                  "steps": 2, "seed": 11}  # fmt: skip
        jobs = {
            "text": await generate(api, **common),
            "red": await generate(api, **common, start_frame={"upload_id": red}),
            "blue": await generate(api, **common, start_frame={"upload_id": blue}),
            "red_to_blue": await generate(
                api, **common, start_frame={"upload_id": red}, end_frame={"upload_id": blue}
            ),
        }
        videos = {}
        for name, job in jobs.items():
            (asset,) = await job_assets(api, job, 1)
            videos[name] = await download(asset["file_url"])
    for data in videos.values():
        info = probe_video(data)
        assert (info.codec, info.frames, info.width, info.height) == ("h264", 5, 64, 64)
    assert len(set(videos.values())) == 4, "a start or end frame did not change the video"


async def test_wan_image_mode_writes_one_png(platform):
    async with client(platform) as api:
        job = await generate(api, model="wan", mode="image", width=64, height=48 + 16, steps=2)
        (asset,) = await job_assets(api, job, 1)
    assert (asset["asset_type"], asset["mime_type"], asset["duration_seconds"]) == (
        "image", "image/png", None,
    )  # fmt: skip
    with Image.open(io.BytesIO(await download(asset["file_url"]))) as image:
        assert image.size == (64, 64)


async def test_cancel_stops_a_running_job_and_skips_a_queued_one(platform):
    user = uuid.uuid4()
    events = await bus(platform)
    previewed = asyncio.Event()
    progress = []

    async def on_progress(msg) -> None:
        progress.append(json.loads(msg.data))
        if progress[-1]["preview_webp_base64"]:
            previewed.set()

    await events.nc.subscribe(subjects.user_progress(user), cb=on_progress)
    try:
        async with client(platform, user) as api:
            running = await generate(api, num_images=2, width=128, height=128, steps=60)
            queued = await generate(api, steps=2)
            await asyncio.wait_for(previewed.wait(), 120)  # a preview every 5 steps
            for job in (queued, running):
                response = await api.post(f"/v1/generations/{job}/cancel")
                assert response.status_code == 202
                assert response.json()["status"] == "cancelling"
            stopped = await outcome(platform, user, running)
            skipped = await outcome(platform, user, queued)
            again = await api.post(f"/v1/generations/{running}/cancel")
            assert again.status_code == 409
            assert (await api.post(f"/v1/generations/{uuid.uuid4()}/cancel")).status_code == 404
            assert (await api.get("/v1/workspace/assets")).json()["items"] == []
    finally:
        await events.nc.close()
    assert isinstance(stopped, GenerationCancelled)
    assert 5 <= stopped.data.at_step < 60
    assert isinstance(skipped, GenerationCancelled)
    assert skipped.data.at_step is None
    assert progress[0]["job_id"] == running
    assert [p["step"] for p in progress[:5]] == [1, 2, 3, 4, 5]
    preview = next(p["preview_webp_base64"] for p in progress if p["preview_webp_base64"])
    with Image.open(io.BytesIO(base64.b64decode(preview))) as image:
        assert image.format == "WEBP"
        assert max(image.size) <= 64


async def test_a_worker_killed_mid_job_leaves_it_to_be_completed_exactly_once(platform):
    user = uuid.uuid4()
    worker = platform.services["gpu-sdxl"]
    events = await bus(platform)
    started = asyncio.Event()

    async def on_progress(msg) -> None:
        started.set()

    await events.nc.subscribe(subjects.user_progress(user), cb=on_progress)
    try:
        async with client(platform, user) as api:
            job = await generate(api, num_images=3, width=96, height=96, steps=20)
            await asyncio.wait_for(started.wait(), 120)
            worker.kill()
            await asyncio.to_thread(worker.start)
            ended = await outcome(platform, user, job, timeout=180)
            assets = await job_assets(api, job, 3)
    finally:
        await events.nc.close()
    assert isinstance(ended, GenerationCompleted)
    job_subjects = f"atelier.user.{user}.generation.sdxl.{job}"
    assert await count_events(platform, f"{job_subjects}.completed") == 1
    assert await count_events(platform, f"{job_subjects}.started") == 2, "not redelivered?"
    assert [a["asset_index"] for a in assets] == [0, 1, 2]


async def test_a_poison_job_is_dead_lettered_and_the_worker_goes_on(platform):
    user = uuid.uuid4()
    events = await bus(platform)
    try:
        subject = subjects.generation(user, "sdxl", uuid.uuid4(), "dispatched")
        await events.js.publish(subject, b'{"type": "generation.dispatched", "data": 42}')
        async with client(platform, user) as api:
            job = await generate(api, steps=2)
            assert isinstance(await outcome(platform, user, job), GenerationCompleted)
        dead = await events.js.get_last_msg(DEAD_LETTERS.name, subjects.dead_letter("gpu-sdxl"))
        assert dead.headers[REASON]
        info = await events.js.consumer_info(EVENTS.name, "gpu-sdxl")
        assert info.num_ack_pending == 0
    finally:
        await events.nc.close()
    assert tiny_png()  # the helper module stays importable (used by seeding elsewhere)


def observed(metrics: str, name: str, model: str, le: str | None = None) -> float:
    """A Prometheus histogram's count for one model (in its bucket `le`, if given); 0 before
    anything was observed."""
    if le is None:
        pattern = rf'{name}_count{{model="{model}"}} (\S+)'
    else:
        pattern = rf'{name}_bucket{{le="{le}",model="{model}"}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def test_jobs_of_several_users_waiting_together_share_one_call(platform):
    """While the SDXL worker is busy, three users' compatible jobs gather; it makes them in
    one pipeline call, each with its own outcome and files. /readyz says the warm-up is done,
    /metrics what the worker really loaded."""
    worker = platform.services["gpu-sdxl"]
    async with httpx.AsyncClient(timeout=10) as http:
        ready = (await http.get(f"{worker.url}/readyz")).json()
        before = (await http.get(f"{worker.url}/metrics")).text
    assert ready["checks"]["warm-up"] == "ok"
    assert re.search(r'atelier_gpu_worker_info{[^}]*device="cpu",dtype="float32"', before)
    users = [uuid.uuid4() for _ in range(4)]
    async with client(platform, users[0]) as api:
        busy = await generate(api, width=128, height=128, steps=30)

        async def running() -> bool:
            return (await api.get(f"/v1/generations/{busy}")).json()["status"] == "running"

        # the others wait for the worker (in the scheduler's queue), then go to it together
        await eventually(running)
    jobs = {}
    for user in users[1:]:
        async with client(platform, user) as api:
            jobs[user] = await generate(api, prompt=f"the picture of {user}", steps=3, seed=7)
    for user, job in [(users[0], busy), *jobs.items()]:
        assert isinstance(await outcome(platform, user, job), GenerationCompleted)
        async with client(platform, user) as api:
            (asset,) = await job_assets(api, job, 1)
        assert read_png_parameters(await download(asset["file_url"]))["prompt"] != ""
    async with httpx.AsyncClient(timeout=10) as http:
        after = (await http.get(f"{worker.url}/metrics")).text
    name = "atelier_generation_call_jobs"
    calls = observed(after, name, "sdxl") - observed(before, name, "sdxl")
    below_three = observed(after, name, "sdxl", "2.0") - observed(before, name, "sdxl", "2.0")
    assert calls - below_three >= 1, "no call held the three jobs"
