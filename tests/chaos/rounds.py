"""One round of a chaos suite, on one server or on a cluster: a bounded load driven
through a fault until the platform has recovered, then the platform checked whole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats.errors
from nats.js.errors import ServiceUnavailableError

from atelier.platform.local import Platform
from tests.chaos import invariants
from tests.chaos.faults import Recovery, all_ready, projection_backlog
from tests.chaos.figures import Figures
from tests.chaos.load import Load
from tests.helpers import eventually

T = TypeVar("T")


async def drive_through(
    platform: Platform, load: Load, figures: Figures, fault: Callable[[], Awaitable[Recovery]]
) -> Recovery:
    """Run `load` while `fault()` strikes; return once every service is ready again, the
    projections have caught up and the load is done (its figures in `figures`)."""
    driving = asyncio.create_task(load.run(platform))
    try:
        await load.wait_accepted(1)
        recovery = await fault()
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
    return recovery


async def settle(
    platform: Platform,
    load: Load,
    loads: Sequence[Load],
    figures: Figures,
    also: Callable[[], Awaitable[T]] | None = None,
) -> T | None:
    """Wait for every accepted job's outcome, check the invariants over `loads` (and
    `also()`, timed with them), count the round in `figures`; what `also()` returned.
    Whether every accepted job has its outcome is the caller's to assert, once it has
    kept the figures."""
    settling = time.monotonic()
    outcomes = await invariants.await_outcomes(platform, load)
    await invariants.check(platform, loads)
    found = await also() if also is not None else None
    figures.settle_s = round(time.monotonic() - settling, 1)
    figures.requests, figures.failed_requests = load.requests, load.failed_requests
    figures.accepted, figures.actions = len(load.accepted), load.actions
    figures.completed, figures.failed = outcomes["completed"], outcomes["failed"]
    figures.cancelled = outcomes["cancelled"]
    return found


async def _no_backlog(platform: Platform) -> bool:
    """Whether the workspace projection has caught up. The probe's own JetStream request
    may go unanswered while a cluster elects a leader after a fault: asked again then."""
    try:
        return await projection_backlog(platform) == 0
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError):
        return False
