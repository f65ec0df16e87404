"""Usage and quotas as users and administrators meet them: a user's own usage per day,
daily quotas refused with what is used and when it resets, every user's usage and the
whole queue (prompts hidden) for administrators only."""

import uuid

import pytest

from tests.helpers import client, eventually, outcome

pytestmark = pytest.mark.e2e

JOB = {"model": "sdxl", "prompt": "a secret prompt", "width": 64, "height": 64, "steps": 2}
ADMIN = {"roles": ["atelier-admin"]}


async def test_a_user_sees_what_their_jobs_used_today_and_nobody_elses(platform):
    user, other = uuid.uuid4(), uuid.uuid4()
    async with client(platform, user) as api, client(platform, other) as stranger:
        done = [
            (await api.post("/v1/generations", json=JOB | {"num_images": n})).json()["job_id"]
            for n in (1, 2)
        ]
        slow = JOB | {"steps": 80, "width": 128, "height": 128}
        cancelled = (await api.post("/v1/generations", json=slow)).json()["job_id"]
        await api.post(f"/v1/generations/{cancelled}/cancel")
        for job in [*done, cancelled]:
            await outcome(platform, user, job)
        await stranger.post("/v1/generations", json=JOB)

        async def counted():
            body = (await api.get("/v1/usage")).json()
            totals = body["totals"]
            return body if totals["completed"] + totals["cancelled"] == 3 else None

        body = await eventually(counted)
        assert {row["user_id"] for row in body["items"]} == {str(user)}
        totals = body["totals"]
        assert totals["requested"] == 3
        assert (totals["completed"], totals["cancelled"], totals["failed"]) == (2, 1, 0)
        assert totals["images"] == 3
        assert totals["gpu_seconds"] > 0
        assert {(row["model"], row["quality"]) for row in body["items"]} == {("sdxl", "fast")}

        backwards = await api.get("/v1/usage", params={"from": "2026-02-02", "to": "2026-02-01"})
        assert backwards.status_code == 422
        assert backwards.json()["detail"].startswith("to:")
        too_long = await api.get("/v1/usage", params={"from": "2024-01-01", "to": "2026-01-01"})
        assert too_long.status_code == 422
        assert too_long.json()["detail"].startswith("from:")
        past = await api.get("/v1/usage", params={"from": "2020-01-01", "to": "2020-01-31"})
        assert past.json()["items"] == []


async def test_a_daily_job_quota_is_refused_with_what_is_used_and_when_it_resets(platform):
    user = uuid.uuid4()
    async with client(platform, user, tier="trial") as api:
        for _ in range(2):
            assert (await api.post("/v1/generations", json=JOB)).status_code == 202
        refused = await api.post("/v1/generations", json=JOB)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert (problem["quota"], problem["used"], problem["limit"]) == ("jobs_per_day", 2, 2)
        assert problem["resets_at"].endswith("T00:00:00Z")
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        assert "jobs_per_day" in problem["detail"]


async def test_a_gpu_time_quota_is_refused_once_the_jobs_of_the_day_used_it(platform):
    user = uuid.uuid4()
    async with client(platform, user, tier="metered") as api:
        first = (await api.post("/v1/generations", json=JOB)).json()["job_id"]
        await outcome(platform, user, first)

        async def refused():
            response = await api.post("/v1/generations", json=JOB)
            if response.status_code == 202:  # the usage projection has not seen it yet
                await outcome(platform, user, response.json()["job_id"])
                return None
            return response

        response = await eventually(refused)
        assert response.status_code == 429
        assert response.json()["quota"] == "gpu_seconds_per_day"
        assert response.json()["used"] > 0


async def test_administrators_see_everyones_usage_and_the_queue_without_prompts(platform):
    user = uuid.uuid4()
    async with (
        client(platform, user, tier="pro") as api,
        client(platform, **ADMIN) as admin,
        client(platform) as someone,
    ):
        slow = JOB | {"steps": 60, "width": 128, "height": 128}
        jobs = [(await api.post("/v1/generations", json=slow)).json()["job_id"] for _ in range(4)]
        for path in ("/v1/admin/usage", "/v1/admin/queue"):
            forbidden = await someone.get(path)
            assert forbidden.status_code == 403
            assert forbidden.headers["content-type"] == "application/problem+json"

        async def listed():
            queue = await admin.get("/v1/admin/queue", params={"model": "sdxl"})
            assert queue.status_code == 200, queue.text
            waiting = {job["job_id"] for model in queue.json()["models"] for job in model["jobs"]}
            return queue if waiting & set(jobs) else None

        queue = await eventually(listed)
        assert "secret" not in queue.text
        assert "prompt" not in queue.text
        (sdxl,) = queue.json()["models"]
        not_running = [job for job in sdxl["jobs"] if job["state"] != "running"]
        assert [job["position"] for job in not_running] == list(range(len(not_running)))
        assert {job["user_id"] for job in sdxl["jobs"] if job["job_id"] in jobs} == {str(user)}

        for job in jobs:
            await api.post(f"/v1/generations/{job}/cancel")
        for job in jobs:
            await outcome(platform, user, job)

        async def seen():
            body = (await admin.get("/v1/admin/usage", params={"user_id": str(user)})).json()
            return body if body["totals"]["cancelled"] == 4 else None

        assert {row["user_id"] for row in (await eventually(seen))["items"]} == {str(user)}
        everyone = (await admin.get("/v1/admin/usage", params={"limit": 1})).json()
        assert len(everyone["items"]) == 1
        assert everyone["next_cursor"]
        after = await admin.get(
            "/v1/admin/usage", params={"limit": 1, "cursor": everyone["next_cursor"]}
        )
        assert after.status_code == 200
        assert after.json()["items"] != everyone["items"]
