"""Webhook deliveries through faults: the webhooks service killed with -9 while attempts
hang at the receiver, then the receiver itself gone and back. Every delivery still
arrives, at least once, each always with its one `webhook-id`."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest

from tests.chaos.faults import Stack, all_ready, kill_supervised
from tests.e2e.webhook_receiver import Received, Receiver
from tests.helpers import client, eventually

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(600)]

BEFORE, WHILE_DOWN = 8, 6


async def test_every_delivery_arrives_with_its_id_through_kill_9_and_a_dead_receiver(
    stack: Stack,
):
    platform = stack.platform
    received: list[Received] = []
    first = await Receiver(script=["hang"] * 4, hang_seconds=3, received=received).start()
    port = first.port
    async with client(platform, uuid.uuid4()) as api:
        answer = await api.post(
            "/v1/webhooks", json={"url": first.url, "events": ["library.collection_created"]}
        )
        assert answer.status_code == 201, answer.text
        hook = answer.json()
        wanted = set()
        for n in range(BEFORE):
            created = await api.post("/v1/library/collections", json={"name": f"before {n}"})
            wanted.add(created.json()["id"])
        await first.wait_for(lambda got: len(got) >= 2)  # attempts hanging at the receiver
        await kill_supervised("webhooks")(stack, None)  # mid-delivery: nothing recorded
        await first.stop()  # and the receiver goes away
        for n in range(WHILE_DOWN):
            created = await api.post("/v1/library/collections", json={"name": f"down {n}"})
            wanted.add(created.json()["id"])
        await all_ready(platform)
        await asyncio.sleep(2)  # attempts meet a closed port and are retried
        back = await Receiver(port=port, received=received).start()
        try:

            def delivered() -> set[str]:
                return {r.event["data"]["collection_id"] for r in received}

            await eventually(lambda: asyncio.sleep(0, delivered() >= wanted), timeout=120)
            ids = defaultdict(set)
            for attempt in received:
                ids[attempt.event["data"]["collection_id"]].add(attempt.id)
                assert attempt.verify(hook["secret"])["user_id"]
            assert all(len(one) == 1 for one in ids.values()), ids  # one id per delivery
            assert len({next(iter(one)) for one in ids.values()}) == len(wanted)

            refused: list[str] = []

            async def all_succeeded():
                answer = await api.get(f"/v1/webhooks/{hook['id']}/deliveries")
                if answer.status_code != 200:  # asked again; shown if it never answers
                    refused.append(f"{answer.status_code} {answer.text[:300]}")
                    return None
                items = answer.json()["items"]
                done = [i for i in items if i["status"] == "succeeded"]
                return items if len(done) == len(wanted) else None

            try:
                items = await eventually(all_succeeded, timeout=60)
            except TimeoutError:
                pytest.fail(f"deliveries not all succeeded; answers refused: {refused[-3:]}")
            assert {f"msg_{i['id']}" for i in items} == {one for s in ids.values() for one in s}
            assert any(i["attempts"] > 1 for i in items)  # some needed retries
        finally:
            await back.stop()
