"""`/v1/events` over a real HTTP connection: the user's events as they happen, each with
its log position as id; a dropped connection resumed with Last-Event-ID gets every event
exactly once."""

import uuid

import httpx
import pytest

from atelier.contracts.streams import EVENTS
from tests.helpers import EventStream, bus, client, done, outcome

pytestmark = pytest.mark.e2e

QUICK = {"model": "sdxl", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


async def test_a_job_is_followed_live_from_request_to_assets(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api, EventStream(api) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        job = (await api.post("/v1/generations", json=QUICK | {"num_images": 2})).json()["job_id"]
        async with client(platform) as other:  # another user's work never shows up
            await other.post("/v1/generations", json=QUICK)
        await stream.until(done(job))
    types = stream.types()
    assert types[0] == "generation.requested"
    assert "generation.started" in types
    assert "generation.progress" in types
    assert types[-1] == "generation.completed"
    assert {
        data["user_id"] for _, event, data in stream.events if event != "generation.progress"
    } == {str(user)}
    completed = stream.events[-1][2]
    assert [asset["index"] for asset in completed["assets"]] == [0, 1]
    async with httpx.AsyncClient() as anonymous:
        thumbnail = await anonymous.get(completed["assets"][0]["thumbnail_url"])
    assert thumbnail.status_code == 200


async def test_when_completed_arrives_the_workspace_already_lists_the_assets(platform):
    """No polling: the frontend reads the workspace once, when the event says so."""
    async with client(platform) as api, EventStream(api) as stream:
        for _ in range(3):
            job = (await api.post("/v1/generations", json=QUICK)).json()["job_id"]
            await stream.until(done(job))
            listed = await api.get("/v1/workspace/assets", params={"limit": 100})
            assert listed.status_code == 200, listed.text
            assert job in {item["job_id"] for item in listed.json()["items"]}


async def test_resuming_with_last_event_id_misses_nothing_and_repeats_nothing(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        async with EventStream(api) as first:
            job = (await api.post("/v1/generations", json=QUICK)).json()["job_id"]
            await first.until(lambda s: any(e == "generation.requested" for e in s.types()))
        received = [event for event in first.events if event[0] is not None]
        # Disconnected: the job goes on, and a workspace change happens meanwhile.
        await outcome(platform, user, job)
        async with EventStream(api, last_event_id=received[-1][0]) as second:
            await second.until(done(job))
        received += [event for event in second.events if event[0] is not None]

    ids = [int(event_id) for event_id, _, _ in received]
    events = await bus(platform)
    try:
        info = await events.js.stream_info(EVENTS.name, subjects_filter=f"atelier.user.{user}.>")
    finally:
        await events.nc.close()
    assert ids == sorted(set(ids)), "an event came twice or out of order"
    assert len(ids) == sum(info.state.subjects.values()), "an event was missed"


async def test_idle_streams_get_heartbeats_and_bad_tokens_get_401(platform):
    async with client(platform) as api, EventStream(api) as stream:
        await stream.until(lambda s: len(s.comments) >= 1, timeout=10)
    assert stream.comments[0] == ": heartbeat"
    token = platform.token(uuid.uuid4())
    async with httpx.AsyncClient(base_url=platform.gateway_url) as browser:
        async with browser.stream("GET", "/v1/events", params={"access_token": token}) as ok:
            assert ok.status_code == 200
        refused = await browser.get("/v1/events", params={"access_token": token + "x"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
