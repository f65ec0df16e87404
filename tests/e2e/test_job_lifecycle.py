"""A job as the frontend follows it: its status, its place in the queue, and submits that
are safe to retry with an Idempotency-Key (across a gateway restart too)."""

import asyncio
import uuid
from datetime import datetime

import pytest

from tests.helpers import client, count_events, eventually, job_assets, outcome

pytestmark = pytest.mark.e2e

QUICK = {"model": "sdxl", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


async def test_the_status_follows_a_job_to_its_assets(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        job = (await api.post("/v1/generations", json=QUICK | {"num_images": 2})).json()["job_id"]
        first = await api.get(f"/v1/generations/{job}")
        assert first.status_code == 200
        assert first.json()["status"] in ("queued", "running", "completed")
        assert first.json()["spec"]["num_images"] == 2
        await outcome(platform, user, job)
        assets = await job_assets(api, job, 2)

        async def completed():
            body = (await api.get(f"/v1/generations/{job}")).json()
            return body if body["status"] == "completed" else None

        status = await eventually(completed)
        assert status["asset_ids"] == [asset["id"] for asset in assets]
        assert status["attempts"] == 1
        assert status["error"] is None
        times = [
            datetime.fromisoformat(status[k]) for k in ("queued_at", "started_at", "finished_at")
        ]
        assert times == sorted(times)
        assert (await api.get(f"/v1/generations/{uuid.uuid4()}")).status_code == 404
    async with client(platform) as stranger:
        assert (await stranger.get(f"/v1/generations/{job}")).status_code == 404


async def test_queued_jobs_know_their_place_and_a_cancelled_one_says_so(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        slow = QUICK | {"num_images": 2, "width": 128, "height": 128, "steps": 80}
        running = (await api.post("/v1/generations", json=slow)).json()["job_id"]
        second = (await api.post("/v1/generations", json=QUICK)).json()["job_id"]
        third = (await api.post("/v1/generations", json=QUICK)).json()["job_id"]

        async def started():
            return (await api.get(f"/v1/generations/{running}")).json()["status"] == "running"

        await eventually(started)
        positions = [
            (await api.get(f"/v1/generations/{job}")).json()["queue_position"]
            for job in (second, third)
        ]
        assert positions == [0, 1]
        for job in (running, second, third):
            await api.post(f"/v1/generations/{job}/cancel")
        for job in (running, second, third):
            await outcome(platform, user, job)

        async def cancelled():
            body = (await api.get(f"/v1/generations/{running}")).json()
            return body if body["status"] == "cancelled" else None

        status = await eventually(cancelled)
        assert status["cancel_requested"] is True
        assert status["asset_ids"] == []


async def test_a_user_lists_their_own_jobs_newest_first_page_by_page_and_by_state(platform):
    """What a frontend shows after a reload: the jobs still going, then the history."""
    user = uuid.uuid4()
    async with client(platform, user) as api, client(platform) as other:
        jobs = [(await api.post("/v1/generations", json=QUICK)).json()["job_id"] for _ in range(3)]
        await other.post("/v1/generations", json=QUICK)

        async def all_completed():
            page = (await api.get("/v1/generations", params={"status": "completed"})).json()
            return page if len(page["items"]) == 3 else None

        completed = await eventually(all_completed)
        assert [item["job_id"] for item in completed["items"]] == jobs[::-1]
        first = (await api.get("/v1/generations", params={"limit": 2})).json()
        assert [item["job_id"] for item in first["items"]] == jobs[:0:-1]
        rest = await api.get("/v1/generations", params={"limit": 2, "cursor": first["next_cursor"]})
        assert [item["job_id"] for item in rest.json()["items"]] == jobs[:1]
        assert rest.json()["next_cursor"] is None
        active = await api.get("/v1/generations", params={"status": ["queued", "running"]})
        assert active.json()["items"] == []

        for bad in ({"status": "paused"}, {"limit": 0}, {"cursor": "not-a-cursor"}):
            refused = await api.get("/v1/generations", params=bad)
            assert refused.status_code in (400, 422), bad
            assert refused.headers["content-type"] == "application/problem+json"


async def test_an_idempotency_key_gives_the_same_job_even_after_a_gateway_restart(platform):
    user = uuid.uuid4()
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    async with client(platform, user) as api:
        replies = await asyncio.gather(
            *(api.post("/v1/generations", json=QUICK, headers=key) for _ in range(3))
        )
        assert {r.status_code for r in replies} == {202}
        job_ids = {r.json()["job_id"] for r in replies}
        assert len(job_ids) == 1
        changed = await api.post("/v1/generations", json=QUICK | {"steps": 3}, headers=key)
        assert changed.status_code == 422
        assert changed.json()["title"] == "Idempotency key reused"

        gateway = platform.services["gateway"]
        gateway.kill()
        await asyncio.to_thread(gateway.start)
        again = await api.post("/v1/generations", json=QUICK, headers=key)
        assert again.status_code == 202
        assert again.json()["job_id"] in job_ids
        other = await api.post("/v1/generations", json=QUICK, headers={"Idempotency-Key": "x"})
        assert other.json()["job_id"] not in job_ids
    (job,) = job_ids
    assert await count_events(platform, f"atelier.user.{user}.generation.*.{job}.requested") == 1
