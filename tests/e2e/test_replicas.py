"""Replicas of the workspace and library services share their projections' partitions:
two, then three replicas of each apply the users' events between them, one is killed
(-9) and the others take its partitions over; every user's rows are there, and equal
the rows rebuilt from the log."""

import asyncio
import os
import signal
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atelier.contracts.partitions import PARTITIONS
from atelier.library.projection import LibraryProjection
from atelier.platform.local import SERVICES
from atelier.stack.services import ServiceProcess
from atelier.webhooks.projection import WebhooksProjection
from atelier.workspace.projection import WorkspaceProjection
from tests.e2e.webhook_receiver import Receiver
from tests.helpers import (
    client,
    eventually,
    rebuild,
    seeded_assets,
    settled,
    user_rows,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PROJECTIONS = {"workspace": WorkspaceProjection.name, "library": LibraryProjection.name}
#: Every service with a partitioned projection (webhooks: its deliveries follow them).
PROJECTION_OF = PROJECTIONS | {"webhooks": WebhooksProjection.name}


def replica(platform, service: str, number: int) -> ServiceProcess:
    (spec,) = [spec for spec in SERVICES if spec.name == service]
    return ServiceProcess(
        f"{service}-{number}", spec.module, platform.data_dir, platform.env_of(spec), spec.port_env
    )


def partitions_held(process: ServiceProcess, service: str) -> int:
    """What the replica's /metrics says it applies (0 if it does not answer)."""
    try:
        text = httpx.get(f"{process.url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "atelier_projection_partitions" and sample.labels == {
                "projection": PROJECTION_OF[service]
            }:
                return int(sample.value)
    return 0


async def shared_by(processes: list[ServiceProcess], service: str) -> bool:
    """Every replica holds some partitions, and together exactly all of them."""
    held = [await asyncio.to_thread(partitions_held, p, service) for p in processes]
    return all(held) and sum(held) == PARTITIONS


async def some_users_with_saved_assets(platform, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    for user in users:
        async with client(platform, user) as api:
            (first, _) = await seeded_assets(platform, api, user, 2)
            saved = await api.post(f"/v1/workspace/assets/{first['id']}/save")
            assert saved.status_code == 200, saved.text
    return users


async def test_replicas_share_the_partitions_and_take_over_a_killed_ones(platform):
    started: list[ServiceProcess] = []
    try:
        for number in (2, 3):
            for service in PROJECTIONS:
                started.append(replica(platform, service, number))
                await asyncio.to_thread(started[-1].start)
            users = await some_users_with_saved_assets(platform, 6)
            for service in PROJECTIONS:
                replicas = [platform.services[service]] + [
                    p for p in started if p.name.startswith(f"{service}-")
                ]
                await eventually(lambda r=replicas, s=service: shared_by(r, s), timeout=60)

        victims = [p for p in started if p.name.endswith("-2")]
        for victim in victims:
            os.killpg(victim.pid, signal.SIGKILL)
        for service in PROJECTIONS:
            survivors = [platform.services[service]] + [
                p for p in started if p.name == f"{service}-3"
            ]
            await eventually(lambda r=survivors, s=service: shared_by(r, s), timeout=60)
        users += await some_users_with_saved_assets(platform, 6)
        await settled(platform, timeout=60)
        live = {user: await user_rows(platform, user) for user in users}
    finally:
        for process in started:
            await asyncio.to_thread(process.kill)
    for user, rows in live.items():
        assert len(rows["workspace.workspace_assets"]) == 2, user
        assert len(rows["library.user_library"]) == 1, user
    for service in PROJECTIONS:
        await asyncio.to_thread(rebuild, platform, service)
    assert {user: await user_rows(platform, user) for user in users} == live


async def test_two_webhook_replicas_send_each_delivery_once(platform):
    """Two replicas of the webhooks service split the partitions, and with them the
    deliveries: every user's deliveries arrive, none twice, whichever replica sent it."""
    second = replica(platform, "webhooks", 2)
    await asyncio.to_thread(second.start)
    try:
        both = [platform.services["webhooks"], second]
        await eventually(lambda: shared_by(both, "webhooks"), timeout=60)
        async with Receiver() as receiver:
            for _ in range(12):  # users spread over the partitions of both replicas
                async with client(platform) as api:
                    answer = await api.post(
                        "/v1/webhooks", json={"url": receiver.url, "events": ["library.*"]}
                    )
                    assert answer.status_code == 201, answer.text
                    for name in ("one", "two"):
                        made = await api.post("/v1/library/collections", json={"name": name})
                        assert made.status_code == 201, made.text
            await receiver.wait_for(lambda got: len({r.id for r in got}) >= 24)
            await settled(platform)
            await asyncio.sleep(2)  # a doubled send would have arrived by now
            ids = [r.id for r in receiver.received]
            assert len(ids) == len(set(ids)) == 24
    finally:
        await asyncio.to_thread(second.kill)
