"""Faults while a bounded load runs: after each, the platform is whole again (see
invariants.py), and the figures of every fault are printed at the end of the run."""

from __future__ import annotations

import uuid

import pytest

from tests.chaos.faults import FAULTS, restarted_since, supervised_restarts
from tests.chaos.figures import FIGURES, Figures
from tests.chaos.load import Load
from tests.chaos.rounds import drive_through, settle

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
