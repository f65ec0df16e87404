"""Per-user limits, as two gateways on connections of their own apply them at once,
hundreds of submits together: exact, never one admission too many or too few."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from atelier.runtime.bus import connect
from atelier.runtime.limits import ActiveJobs, LimitExceeded, Limits, UserLimits

SUBMITS = 300


@contextlib.asynccontextmanager
async def gateways(url: str, limits: UserLimits, count: int = 2) -> AsyncIterator[list[Limits]]:
    """`count` gateways' limits, each on a NATS connection of its own."""
    connections = [await connect(url, name=f"gateway-{n}") for n in range(count)]
    try:
        yield [
            Limits(nc.jetstream(), await ActiveJobs.open(nc.jetstream()), limits)
            for nc in connections
        ]
    finally:
        for nc in connections:
            await nc.close()


async def race(gateways: list[Limits], user: uuid.UUID) -> tuple[list[uuid.UUID], list[str]]:
    """SUBMITS admissions of one user, spread over the gateways, all at once."""
    jobs = [uuid.uuid4() for _ in range(SUBMITS)]

    async def admit(n: int) -> str | None:
        try:
            await gateways[n % len(gateways)].admit(user, jobs[n])
        except LimitExceeded as refused:
            return refused.detail
        return None

    outcomes = await asyncio.gather(*(admit(n) for n in range(SUBMITS)))
    admitted = [job for job, refused in zip(jobs, outcomes, strict=True) if refused is None]
    return admitted, [refused for refused in outcomes if refused is not None]


@pytest.fixture
async def minute_to_spare():
    if time.time() % 60 > 50:  # the count is per minute: start with time to spare
        await asyncio.sleep(61 - time.time() % 60)


async def test_submits_a_minute_are_exact_across_gateways(
    private_nats, private_nc, minute_to_spare
):
    limits = UserLimits(max_active_jobs=10_000, submits_per_minute=50)
    async with gateways(private_nats.url, limits) as two:
        admitted, refused = await race(two, uuid.uuid4())
    assert len(admitted) == 50
    assert set(refused) == {"at most 50 submits a minute"}


async def test_active_jobs_are_exact_across_gateways(private_nats, private_nc, minute_to_spare):
    limits = UserLimits(max_active_jobs=7, submits_per_minute=10_000)
    user = uuid.uuid4()
    async with gateways(private_nats.url, limits) as two:
        admitted, refused = await race(two, user)
        assert len(admitted) == 7
        assert set(await two[0].active.of(user)) == {str(job) for job in admitted}
        assert "at most 7 jobs queued or running at once" in refused
        # Freed on one gateway, admitted again on the other: still exact.
        await two[0].release(user, admitted[0])
        again, _ = await race(two, user)
        assert len(again) == 1
