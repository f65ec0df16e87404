"""Gathering jobs that may share a call: by key, in arrival order (none overtakes an older
one), within a window and a capacity."""

import asyncio
from dataclasses import dataclass

import pytest

from atelier.inference.batching import Batcher


@dataclass(frozen=True)
class Job:
    name: str
    key: str | None = "k"
    images: int = 1


def batcher(groups: list[list[str]], *, window: float = 0.05, capacity: int = 6, gate=None):
    async def run(items: list[Job]) -> list[str]:
        groups.append([item.name for item in items])
        if gate is not None:
            await gate.wait()
        if any(item.name == "boom" for item in items):
            raise RuntimeError("boom")
        return [f"{item.name} done" for item in items]

    return Batcher(
        run,
        key=lambda job: job.key,
        rows=lambda job: job.images,
        capacity=lambda job: capacity,
        window=window,
    )


async def test_jobs_arriving_within_the_window_share_a_group_until_one_that_cannot():
    groups: list[list[str]] = []
    b = batcher(groups)

    async def later(job: Job, delay: float) -> str:
        await asyncio.sleep(delay)
        return await b.submit(job)

    outcomes = await asyncio.gather(
        b.submit(Job("a")),
        later(Job("b"), 0.01),
        later(Job("other", key="k2"), 0.01),
        later(Job("c"), 0.02),
        later(Job("late"), 0.3),
    )
    assert outcomes == ["a done", "b done", "other done", "c done", "late done"]
    # c could share a and b's call, but "other" came before it: c waits its turn
    assert groups == [["a", "b"], ["other"], ["c"], ["late"]]


async def test_a_full_group_does_not_wait_for_its_window():
    groups: list[list[str]] = []
    b = batcher(groups, window=30.0, capacity=3)
    async with asyncio.timeout(5):
        await asyncio.gather(b.submit(Job("a", images=2)), b.submit(Job("b")))
    assert groups == [["a", "b"]]


async def test_groups_hold_what_fits_in_arrival_order_and_a_keyless_job_goes_alone():
    groups: list[list[str]] = []
    gate = asyncio.Event()
    b = batcher(groups, window=0.0, capacity=4, gate=gate)
    first = asyncio.create_task(b.submit(Job("busy", key="x")))
    await asyncio.sleep(0.01)  # the worker is busy: the others gather meanwhile
    rest = [
        asyncio.create_task(b.submit(job))
        for job in (
            Job("a", images=3),
            Job("alone", key=None),
            Job("b", images=2),
            Job("c", images=1),
            Job("d", images=2),
        )
    ]
    await asyncio.sleep(0.01)
    assert b.waiting == 5
    gate.set()
    await asyncio.gather(first, *rest)
    assert groups == [["busy"], ["a"], ["alone"], ["b", "c"], ["d"]]


async def test_a_failing_group_fails_its_jobs_only():
    groups: list[list[str]] = []
    b = batcher(groups, window=0.05)
    failed, fine = await asyncio.gather(
        b.submit(Job("boom")), b.submit(Job("x", key="other")), return_exceptions=True
    )
    assert isinstance(failed, RuntimeError)
    assert fine == "x done"
    assert await b.submit(Job("after")) == "after done"


async def test_without_a_window_a_lone_job_starts_at_once():
    groups: list[list[str]] = []
    b = batcher(groups, window=0.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await b.submit(Job("a"))
    assert loop.time() - started < 0.05
    assert groups == [["a"]]


@pytest.mark.parametrize("capacity", [1, 2])
async def test_a_job_bigger_than_the_capacity_still_runs(capacity):
    groups: list[list[str]] = []
    b = batcher(groups, capacity=capacity, window=0.01)
    assert await b.submit(Job("big", images=6)) == "big done"


async def test_jobs_handed_over_just_after_a_call_join_the_job_that_waited_for_it():
    """The scheduler gives an idle worker its next jobs a moment after a call ends: they
    still share a call with the job that waited behind it."""
    groups: list[list[str]] = []
    gate = asyncio.Event()
    b = batcher(groups, window=0.2, gate=gate)
    busy = asyncio.create_task(b.submit(Job("busy", key="x")))
    await asyncio.sleep(0.01)
    waited = asyncio.create_task(b.submit(Job("waited")))
    await asyncio.sleep(0.3)  # longer than its window: it has waited since
    gate.set()
    await busy
    await asyncio.sleep(0.02)
    late = [asyncio.create_task(b.submit(Job(name))) for name in ("new-1", "new-2")]
    await asyncio.gather(waited, *late)
    assert groups == [["busy"], ["waited", "new-1", "new-2"]]


async def test_jobs_that_reach_it_out_of_their_dispatch_order_wait_in_that_order():
    """Handlers take different times before they submit: the dispatch order still holds."""
    groups: list[list[str]] = []
    gate = asyncio.Event()
    dispatched = {"busy": 0, "a": 1, "other": 2, "b": 3}
    b = Batcher(
        lambda items: _ran(groups, items, gate),
        key=lambda job: job.key,
        rows=lambda job: job.images,
        capacity=lambda job: 6,
        window=0.0,
        order=lambda job: dispatched[job.name],
    )
    first = asyncio.create_task(b.submit(Job("busy", key="x")))
    await asyncio.sleep(0.01)
    rest = [
        asyncio.create_task(b.submit(job))
        for job in (Job("b"), Job("other", key="y"), Job("a"))  # reached it backwards
    ]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, *rest)
    assert groups == [["busy"], ["a"], ["other"], ["b"]]


async def _ran(groups: list[list[str]], items: list[Job], gate: asyncio.Event) -> list[str]:
    groups.append([item.name for item in items])
    await gate.wait()
    return [f"{item.name} done" for item in items]
