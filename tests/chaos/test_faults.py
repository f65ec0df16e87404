"""Faults while a bounded load runs: after each, the platform is whole again (see
invariants.py), and the figures of every fault are printed at the end of the run."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from tests.chaos.faults import FAULTS, restarted_since, supervised_restarts
from tests.chaos.figures import FIGURES, Figures
from tests.chaos.load import Load
from tests.chaos.rounds import drive_through, settle
from tests.helpers import EventStream, client, count_events

#: A round takes well under a minute; on a crowded machine a job may queue for minutes.
pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(600)]

#: Generations per fault (one of them a Wan video), with workspace and library actions.
JOBS_PER_FAULT = 4
#: Every user the module has driven: the invariants are checked over all of them.
LOADS: list[Load] = []


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_the_platform_is_whole_again_after(stack, fault: str) -> None:
    platform = stack.platform
    figures = Figures(fault)
    load = Load(uuid.uuid4(), JOBS_PER_FAULT)
    LOADS.append(load)
    restarts = supervised_restarts(platform)
    recovery = await drive_through(platform, load, figures, lambda: FAULTS[fault](stack, load))
    await settle(platform, load, LOADS, figures)
    FIGURES.append(figures)
    assert figures.completed + figures.failed + figures.cancelled == figures.accepted
    # The supervisor must not hide a crash: it restarted the victim of a supervised fault,
    # once, and nothing else.
    restarted = restarted_since(platform, restarts)
    expected = {recovery.process: 1} if fault.startswith("supervised") else {}
    assert restarted == expected, f"restarted by the supervisor: {restarted}"


async def test_a_live_stream_misses_nothing_while_nats_connections_are_cut(stack) -> None:
    """The gateway's one live feed across connection resets: an open event stream gets
    each of its user's events once and in order while they are appended and every NATS
    connection is cut again and again (the feed's ordered consumer starts over from the
    last event it delivered)."""
    platform, user = stack.platform, uuid.uuid4()
    async with client(platform, user) as api, EventStream(api) as stream:

        async def append() -> None:
            for n in range(40):  # some fail while the gateway is cut off: not on the log
                await api.post("/v1/library/collections", json={"name": f"c{n}"})
                await asyncio.sleep(0.05)

        async def cut() -> None:
            for _ in range(4):
                await asyncio.sleep(random.uniform(0.2, 0.8))
                await asyncio.to_thread(stack.nats_proxy.cut)

        await asyncio.gather(append(), cut())
        total = await count_events(platform, f"atelier.user.{user}.>")
        assert total > 0
        await stream.until(lambda s: len(s.events) >= total, timeout=60)
    ids = [int(event_id) for event_id, _, _ in stream.events if event_id]
    assert ids == sorted(set(ids)), "an event came twice or out of order"
    assert len(ids) == total, "an event was missed"
