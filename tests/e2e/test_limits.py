"""Per-user limits through two gateway processes at once: they hold across replicas."""

import asyncio
import time
import uuid

import httpx
import pytest

from atelier.stack.services import ServiceProcess
from tests.helpers import client, eventually, outcome

pytestmark = pytest.mark.e2e

SLOW = {"model": "sdxl", "prompt": "x", "width": 128, "height": 128, "steps": 80}
QUICK = {"model": "sdxl", "prompt": "x", "width": 64, "height": 64, "steps": 2}


@pytest.fixture
def second_gateway(platform):
    gateway = ServiceProcess(
        "gateway-2", "atelier.gateway", platform.data_dir, platform.service_environment, "HTTP_PORT"
    )
    gateway.start()
    yield gateway
    gateway.stop()


async def test_active_jobs_are_capped_across_gateways_and_freed_when_they_end(
    platform, second_gateway
):
    user = uuid.uuid4()
    token = {"Authorization": f"Bearer {platform.token(user)}"}
    async with (
        httpx.AsyncClient(base_url=platform.gateway_url, headers=token, timeout=30) as one,
        httpx.AsyncClient(base_url=second_gateway.url, headers=token, timeout=30) as two,
    ):
        replies = await asyncio.gather(
            *(api.post("/v1/generations", json=SLOW) for api in (one, two) * 4)
        )
        accepted = [r.json()["job_id"] for r in replies if r.status_code == 202]
        refused = [r for r in replies if r.status_code != 202]
        assert len(accepted) == 5, [r.status_code for r in replies]
        assert {r.status_code for r in refused} == {429}
        assert all(int(r.headers["retry-after"]) > 0 for r in refused)
        assert "queued or running" in refused[0].json()["detail"]

        for job in accepted:
            await one.post(f"/v1/generations/{job}/cancel")
        for job in accepted:
            await outcome(platform, user, job)

        async def admitted_again():
            return (await two.post("/v1/generations", json=QUICK)).status_code == 202

        assert await eventually(admitted_again, timeout=30)


async def test_submits_a_minute_are_capped(platform):
    if time.time() % 60 > 50:  # the count is per minute: start with time to spare
        await asyncio.sleep(61 - time.time() % 60)
    user = uuid.uuid4()
    async with client(platform, user) as api:
        replies = [await api.post("/v1/generations", json=QUICK) for _ in range(21)]
        jobs = [r.json()["job_id"] for r in replies if r.status_code == 202]
        for job in jobs:
            await api.post(f"/v1/generations/{job}/cancel")
    assert replies[-1].status_code == 429
    assert "a minute" in replies[-1].json()["detail"]
    assert 0 < int(replies[-1].headers["retry-after"]) <= 61
    for job in jobs:
        await outcome(platform, user, job)


@pytest.fixture
def another_process(platform):
    """A second gateway process on the platform's shared address."""
    process = platform.gateway_process("gateway-process-2")
    process.start()
    yield process
    process.stop()


async def test_processes_sharing_the_address_split_the_load_and_keep_limits_exact(
    platform, another_process
):
    """Two hundred submits of one user at once through the address two gateway processes
    share: exactly the active-job cap is admitted, and both processes answered."""
    user = uuid.uuid4()
    processes = [*platform.gateway_urls, another_process.url]
    before = [await _submits_served(url) for url in processes]
    async with client(platform, user) as api:
        replies = await asyncio.gather(
            *(api.post("/v1/generations", json=SLOW) for _ in range(200))
        )
        accepted = [r.json()["job_id"] for r in replies if r.status_code == 202]
        assert len(accepted) == 5, sorted({r.status_code for r in replies})
        assert {r.status_code for r in replies} == {202, 429}
        for job in accepted:
            await api.post(f"/v1/generations/{job}/cancel")
    after = [await _submits_served(url) for url in processes]
    assert all(now > then for now, then in zip(after, before, strict=True)), (before, after)
    for job in accepted:
        await outcome(platform, user, job)


async def _submits_served(url: str) -> float:
    """POST /v1/generations answered by the process at `url` (its own port), any status."""
    async with httpx.AsyncClient(base_url=url) as process:
        text = (await process.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("atelier_http_requests_total{")
        and 'method="POST"' in line
        and 'route="/v1/generations"' in line
    )
