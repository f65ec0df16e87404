"""Webhooks as a user and their receiver meet them, against real HTTP receivers on
loopback (the test platform allows private targets, as `make up` does; the guard that
refuses them is tested in services/webhooks/tests/unit/test_ssrf.py): signed deliveries
with URLs that download, retries with the same `webhook-id` after 500s and timeouts, a
hanging receiver that delays nobody else, nothing for a deleted webhook, nothing of
another user's."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from atelier.contracts.webhook_events import MAX_WEBHOOKS_PER_USER
from tests.e2e.webhook_receiver import Receiver
from tests.helpers import EventStream, client, eventually, rebuild, settled

pytestmark = pytest.mark.e2e

JOB = {"model": "sdxl", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


async def register(api: httpx.AsyncClient, url: str, events: list[str]) -> dict:
    answer = await api.post("/v1/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def new_collection(api: httpx.AsyncClient, name: str) -> str:
    answer = await api.post("/v1/library/collections", json={"name": name})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def deliveries(api: httpx.AsyncClient, webhook_id: str) -> list[dict]:
    answer = await api.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_a_completed_generation_is_delivered_signed_with_urls_that_download(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api, Receiver() as receiver:
        hook = await register(api, receiver.url, ["generation.completed"])
        assert hook["secret"].startswith("whsec_")
        assert hook["events"] == ["generation.completed"]
        listed = (await api.get("/v1/webhooks")).json()["items"]
        assert [h["id"] for h in listed] == [hook["id"]]
        assert "secret" not in listed[0]
        assert hook["secret"] not in str(listed)

        job = (await api.post("/v1/generations", json=JOB | {"num_images": 2})).json()["job_id"]
        await receiver.wait_for(
            lambda got: any(r.event["type"] == "generation.completed" for r in got)
        )
        (delivered,) = receiver.received  # nothing else: requested/started are not subscribed
        event = delivered.verify(hook["secret"])  # Standard Webhooks: id, timestamp, signature
        assert event["type"] == "generation.completed"
        assert event["user_id"] == str(user)
        assert event["data"]["job_id"] == job
        assert delivered.headers["webhook-id"].startswith("msg_")
        assets = event["data"]["assets"]
        assert len(assets) == 2
        async with httpx.AsyncClient() as anonymous:
            for asset in assets:
                for url in (asset["storage_url"], asset["thumbnail_url"]):
                    fetched = await anonymous.get(url)
                    assert fetched.status_code == 200
                    assert len(fetched.content) > 0

        async def succeeded():
            items = await deliveries(api, hook["id"])
            return items if items and items[0]["status"] == "succeeded" else None

        (row,) = await eventually(succeeded, timeout=30)
        assert f"msg_{row['id']}" == delivered.headers["webhook-id"]
        assert (row["event_type"], row["attempts"], row["last_status_code"]) == (
            "generation.completed",
            1,
            200,
        )
        assert row["event_id"] == event["event_id"]
        assert row["next_attempt_at"] is None


async def test_a_receiver_answering_500_is_retried_with_the_same_id(platform):
    async with client(platform) as api, Receiver(script=[500, 503, "ok"]) as receiver:
        hook = await register(api, receiver.url, ["library.*"])
        await new_collection(api, "retried")
        await receiver.wait_for(lambda got: len(got) >= 3)
        assert [r.answered for r in receiver.received] == [500, 503, "ok"]
        assert len({r.id for r in receiver.received}) == 1  # the same delivery, three times
        for attempt in receiver.received:
            assert attempt.verify(hook["secret"])["type"] == "library.collection_created"

        async def succeeded():
            items = await deliveries(api, hook["id"])
            return items if items and items[0]["status"] == "succeeded" else None

        (row,) = await eventually(succeeded, timeout=30)
        assert (row["attempts"], row["last_status_code"], row["last_error"]) == (3, 200, None)
        await asyncio.sleep(1)
        assert len(receiver.received) == 3  # delivered: never again


async def test_a_hanging_receiver_is_retried_and_delays_no_one_else(platform):
    slow_user, other_user = uuid.uuid4(), uuid.uuid4()
    async with (
        client(platform, slow_user) as slow_api,
        client(platform, other_user) as other_api,
        Receiver(script=["hang", "hang", "ok"], hang_seconds=4) as slow,
        Receiver() as prompt,
    ):
        slow_hook = await register(slow_api, slow.url, ["library.collection_created"])
        await register(other_api, prompt.url, ["library.*"])
        await new_collection(slow_api, "slow")
        await slow.wait_for(lambda got: len(got) >= 1)
        await new_collection(other_api, "prompt")
        await prompt.wait_for(lambda got: len(got) >= 1, timeout=30)
        # The other user's delivery came while the slow receiver still held its first one.
        assert len(slow.received) <= 2
        assert slow.received[-1].answered == "hang"

        await slow.wait_for(lambda got: len(got) >= 3)
        assert len({r.id for r in slow.received}) == 1

        async def settled_row():
            items = await deliveries(slow_api, slow_hook["id"])
            return items if items and items[0]["status"] == "succeeded" else None

        (row,) = await eventually(settled_row, timeout=30)
        assert row["attempts"] == 3
        assert row["last_status_code"] == 200


async def test_timeouts_are_recorded_while_a_delivery_is_retried(platform):
    async with client(platform) as api, Receiver(script=["hang"] * 50, hang_seconds=3) as slow:
        hook = await register(api, slow.url, ["library.collection_created"])
        await new_collection(api, "timing out")

        async def retrying():
            items = await deliveries(api, hook["id"])
            return items if items and items[0]["attempts"] >= 1 else None

        (row,) = await eventually(retrying, timeout=30)
        assert row["status"] == "pending"
        assert row["last_status_code"] is None
        assert "no answer within" in row["last_error"]
        assert row["next_attempt_at"] is not None
        await api.delete(f"/v1/webhooks/{hook['id']}")


async def test_a_deleted_webhook_gets_nothing_more(platform):
    async with client(platform) as api, Receiver(script=[500] * 1000) as receiver:
        hook = await register(api, receiver.url, ["library.*"])
        await new_collection(api, "before")
        await receiver.wait_for(lambda got: len(got) >= 2)  # failing, retried
        deleted = await api.delete(f"/v1/webhooks/{hook['id']}")
        assert deleted.status_code == 204
        at_deletion = len(receiver.received)
        await new_collection(api, "after")
        await settled(platform)
        await asyncio.sleep(1.5)
        # at most the attempt that was under way as it was deleted
        assert len(receiver.received) <= at_deletion + 1
        assert all(r.event["data"]["name"] == "before" for r in receiver.received)
        assert (await api.get("/v1/webhooks")).json()["items"] == []
        assert (await api.get(f"/v1/webhooks/{hook['id']}/deliveries")).status_code == 404
        assert (await api.delete(f"/v1/webhooks/{hook['id']}")).status_code == 404


async def test_another_users_events_never_reach_a_webhook(platform):
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    async with (
        client(platform, owner) as api,
        client(platform, stranger) as other,
        Receiver() as receiver,
    ):
        hook = await register(api, receiver.url, ["library.*", "generation.*"])
        await new_collection(other, "not yours")
        await other.post("/v1/generations", json=JOB)
        await new_collection(api, "yours")
        await receiver.wait_for(lambda got: len(got) >= 1)
        await settled(platform)
        await asyncio.sleep(1)
        assert [r.event["data"]["name"] for r in receiver.received] == ["yours"]
        assert {r.event["user_id"] for r in receiver.received} == {str(owner)}
        # nor can the stranger see, list or delete the owner's webhook
        assert (await other.get("/v1/webhooks")).json()["items"] == []
        assert (await other.get(f"/v1/webhooks/{hook['id']}/deliveries")).status_code == 404
        assert (await other.delete(f"/v1/webhooks/{hook['id']}")).status_code == 404
        assert len((await api.get("/v1/webhooks")).json()["items"]) == 1


async def test_the_secret_never_reaches_the_event_stream(platform):
    async with client(platform) as api, EventStream(api) as stream:
        hook = await register(api, "http://127.0.0.1:9/hook", ["library.*"])
        await stream.until(lambda s: "webhook.registered" in s.types(), timeout=30)
        (data,) = [data for _, event, data in stream.events if event == "webhook.registered"]
        assert data["data"]["webhook_id"] == hook["id"]
        assert "encrypted_secret" not in data["data"]
        assert hook["secret"] not in str(data)
        await api.delete(f"/v1/webhooks/{hook['id']}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["generation.*"]}, "url"),
        ({"url": "not a url", "events": ["generation.*"]}, "url"),
        ({"url": "http://user:pw@example.com/", "events": ["generation.*"]}, "url"),
        ({"url": "http://example.com/\u0007", "events": ["generation.*"]}, "url"),
        ({"url": "http://example.com/" + "a" * 3000, "events": ["generation.*"]}, "url"),
        ({"url": "http://example.com/", "events": []}, "events"),
        ({"url": "http://example.com/", "events": ["generation.requested"]}, "events"),
        ({"url": "http://example.com/", "events": ["webhook.*"]}, "events"),
        ({"url": "http://example.com/", "events": ["generation.*"], "extra": 1}, "extra"),
        ({"events": ["generation.*"]}, "url"),
    ],
)
async def test_bad_registrations_are_refused_naming_the_field(platform, body, field):
    async with client(platform) as api:
        refused = await api.post("/v1/webhooks", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in refused.json()["detail"]
        assert (await api.get("/v1/webhooks")).json()["items"] == []


async def test_a_user_holds_a_bounded_number_of_webhooks(platform):
    async with client(platform) as api:
        for n in range(MAX_WEBHOOKS_PER_USER):
            await register(api, f"http://127.0.0.1:9/hook/{n}", ["library.*"])
        refused = await api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook/x", "events": ["library.*"]}
        )
        assert refused.status_code == 422
        assert "url" in refused.json()["detail"]
        listed = (await api.get("/v1/webhooks")).json()["items"]
        assert len(listed) == MAX_WEBHOOKS_PER_USER
        for hook in listed:
            assert (await api.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204


async def test_unknown_ids_and_cursors(platform):
    async with client(platform) as api:
        unknown = uuid.uuid4()
        assert (await api.delete(f"/v1/webhooks/{unknown}")).status_code == 404
        assert (await api.get(f"/v1/webhooks/{unknown}/deliveries")).status_code == 404
        assert (await api.delete("/v1/webhooks/not-an-id")).status_code == 422
        hook = await register(api, "http://127.0.0.1:9/hook", ["library.*"])
        bad = await api.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "x"})
        assert bad.status_code == 400
        await api.delete(f"/v1/webhooks/{hook['id']}")


async def test_a_rebuild_gives_the_same_webhooks_and_deliveries(platform):
    async with client(platform) as api, Receiver(script=[500]) as receiver:
        hook = await register(api, receiver.url, ["library.*"])
        await new_collection(api, "kept")

        async def delivered():
            items = await deliveries(api, hook["id"])
            return items if items and items[0]["status"] == "succeeded" else None

        await eventually(delivered, timeout=30)
        await settled(platform)
        before = await webhook_rows(platform)
        rebuild(platform, "webhooks")
        assert await webhook_rows(platform) == before
        assert await deliveries(api, hook["id"]) == await delivered()
        await api.delete(f"/v1/webhooks/{hook['id']}")


async def webhook_rows(platform) -> dict[str, list[dict]]:
    """Every webhook, and every delivery that is settled (a pending one may be attempted
    meanwhile)."""
    conn = await asyncpg.connect(platform.settings().database_url)
    try:
        return {
            "webhooks": [
                dict(r) for r in await conn.fetch("SELECT * FROM webhooks.webhooks ORDER BY id")
            ],
            "deliveries": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT * FROM webhooks.webhook_deliveries WHERE status <> 'pending' "
                    "ORDER BY id"
                )
            ],
        }
    finally:
        await conn.close()
