"""`/v1/events` over a real HTTP connection: the user's events as they happen, each with
its log position as id; a dropped connection resumed with Last-Event-ID gets every event
exactly once."""

import asyncio
import contextlib
import uuid

import httpx
import pytest

from atelier.contracts.streams import EVENTS
from tests.helpers import EventStream, bus, client, count_events, done, eventually, outcome

pytestmark = pytest.mark.e2e

CREATED = "library.collection_created"
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


async def test_resuming_while_events_keep_coming_misses_and_repeats_nothing(platform):
    """A resume's replay races the live feed: the user's events are appended the whole
    time while the client drops the connection and resumes with Last-Event-ID, again
    and again."""
    user = uuid.uuid4()
    received: list[int] = []
    stop = asyncio.Event()
    async with client(platform, user) as api:

        async def append() -> None:
            n = 0
            while not stop.is_set():
                made = await api.post("/v1/library/collections", json={"name": f"c{n}"})
                assert made.status_code == 201, made.text
                n += 1

        def resume() -> EventStream:
            return EventStream(api, last_event_id=str(received[-1]) if received else None)

        async def read(stream: EventStream, until) -> None:
            await stream.until(until)
            received.extend(int(event_id) for event_id, _, _ in stream.events if event_id)

        async with resume() as stream:  # follows from now on: then the appending starts
            writer = asyncio.create_task(append())
            await read(stream, lambda s: len(s.events) >= 3)
        try:
            for _ in range(6):
                await asyncio.sleep(0.1)  # appended meanwhile: the replay has them
                async with resume() as stream:
                    await read(stream, lambda s: len(s.events) >= 3)
        finally:
            stop.set()
            await writer
        total = await count_events(platform, f"atelier.user.{user}.>")
        async with resume() as stream:
            await read(stream, lambda s: len(received) + len(s.events) >= total)
    assert received == sorted(set(received)), "an event came twice or out of order"
    assert len(received) == total, "an event was missed"


async def test_open_streams_share_one_consumer_and_a_resume_gives_its_own_back(platform):
    """Twenty open tabs are no twenty consumers on the server: one gateway process
    follows the log once and fans out. A resume's replay consumer goes once caught up.
    Each of a user's tabs gets each of that user's events once."""
    events = await bus(platform)
    try:

        async def consumers() -> int:
            return (await events.js.stream_info(EVENTS.name)).state.consumer_count

        before = await consumers()
        users = [uuid.uuid4() for _ in range(4)]
        async with contextlib.AsyncExitStack() as tabs:
            apis = [await tabs.enter_async_context(client(platform, user)) for user in users]
            streams = [
                await tabs.enter_async_context(EventStream(api)) for api in apis for _ in range(5)
            ]
            made = await apis[0].post("/v1/library/collections", json={"name": "shared"})
            assert made.status_code == 201
            for stream in streams[:5]:
                await stream.until(lambda s: CREATED in s.types(), timeout=30)
            assert [stream.types().count(CREATED) for stream in streams[:5]] == [1] * 5
            assert await consumers() - before < 5, "a consumer per open stream"
            resumed = [
                await tabs.enter_async_context(EventStream(apis[0], last_event_id="1"))
                for _ in range(3)
            ]
            for stream in resumed:
                await stream.until(lambda s: CREATED in s.types(), timeout=30)
            assert await eventually(lambda: _fewer_than(consumers, before + 5), timeout=10)
    finally:
        await events.nc.close()


async def _fewer_than(count, limit: int) -> bool:
    return await count() < limit


@pytest.mark.parametrize("last_event_id", ["1e3", "-3", "18446744073709551616", "12abc"])
async def test_a_last_event_id_that_is_no_sequence_follows_from_now(platform, last_event_id):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        async with EventStream(api, last_event_id=last_event_id) as stream:
            assert stream.response.status_code == 200
            await api.post("/v1/library/collections", json={"name": "after"})
            await stream.until(lambda s: CREATED in s.types(), timeout=30)
        assert stream.types() == [CREATED]
