"""Faults while a bounded load runs: after each, the platform is whole again (see
invariants.py), and the figures of every fault are printed at the end of the run."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.chaos import invariants
from tests.chaos.faults import FAULTS, all_ready, projection_backlog, supervised_restarts
from tests.chaos.figures import FIGURES, Figures
from tests.chaos.load import Load
from tests.helpers import eventually

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
    driving = asyncio.create_task(load.run(platform))
    try:
        await load.wait_accepted(1)
        recovery = await FAULTS[fault](stack, load)
        unready = await all_ready(platform)
        await eventually(lambda: _no_backlog(platform), timeout=120)
        figures.down_s = round(recovery.down_s, 1)
        figures.recover_s = round(time.monotonic() - recovery.restored_at, 1)
        figures.backlog = recovery.backlog
        figures.recoveries = len({recovery.process} | unready)
        async with asyncio.timeout(420):
            await driving
    finally:
        driving.cancel()
    assert not load.unexpected, load.unexpected
    settling = time.monotonic()
    outcomes = await invariants.await_outcomes(platform, load)
    await invariants.check(platform, LOADS)
    figures.settle_s = round(time.monotonic() - settling, 1)
    figures.requests, figures.failed_requests = load.requests, load.failed_requests
    figures.accepted, figures.actions = len(load.accepted), load.actions
    figures.completed, figures.failed = outcomes["completed"], outcomes["failed"]
    figures.cancelled = outcomes["cancelled"]
    FIGURES.append(figures)
    assert figures.completed + figures.failed + figures.cancelled == figures.accepted
    # The supervisor must not hide a crash: it restarted the victim of a supervised fault,
    # once, and nothing else.
    now = supervised_restarts(platform)
    restarted = {name: now[name] - n for name, n in restarts.items() if now[name] != n}
    expected = {recovery.process: 1} if fault.startswith("supervised") else {}
    assert restarted == expected, f"restarted by the supervisor: {restarted}"


async def _no_backlog(platform) -> bool:
    return await projection_backlog(platform) == 0
