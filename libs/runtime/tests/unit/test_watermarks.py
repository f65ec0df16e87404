"""Which projections an event waits for, by their announced watermarks."""

import asyncio

from atelier.contracts.partitions import PARTITIONS, partition_of
from atelier.contracts.watermarks import Watermark
from atelier.runtime.watermarks import Watermarks

WORKSPACE = ("atelier.user.*.generation.*.*.*", "atelier.user.*.workspace.*.*")
COMPLETED = "atelier.user.u1.generation.sdxl.j1.completed"
STORED = "atelier.user.u1.library.a1.asset_stored"
FOLLOWED = ("workspace", "library")


def mark(position: int, name: str = "workspace", reads=WORKSPACE) -> Watermark:
    return Watermark(projection=name, position=position, subjects=reads)


def test_an_event_waits_only_for_projections_that_read_it():
    marks = Watermarks(FOLLOWED)
    marks.record(mark(10))
    assert marks.behind(COMPLETED, 11) == ["workspace"]
    assert marks.behind(COMPLETED, 10) == []
    assert marks.behind(STORED, 11) == []  # the workspace does not read library events


def test_positions_only_grow():
    marks = Watermarks(FOLLOWED)
    marks.record(mark(12))
    marks.record(mark(7))  # a replica that is behind
    assert marks.behind(COMPLETED, 12) == []


def test_a_silent_projection_is_not_waited_for():
    marks = Watermarks(FOLLOWED, stale_after=0.0)
    marks.record(mark(1))
    assert marks.behind(COMPLETED, 5) == []


async def test_shown_returns_when_the_projection_announces_the_position():
    marks = Watermarks(FOLLOWED)
    marks.record(mark(1))

    async def announce_later():
        await asyncio.sleep(0.05)
        await marks.update(mark(5))

    task = asyncio.create_task(announce_later())
    assert await marks.shown(COMPLETED, 5, timeout=5)
    await task


async def test_shown_gives_up_after_the_timeout():
    marks = Watermarks(FOLLOWED)
    marks.record(mark(1))
    assert not await marks.shown(COMPLETED, 5, timeout=0.05)


def test_an_event_waits_for_the_partition_of_its_user_only():
    """Replicas announce the partitions they apply: u1's event waits for u1's."""
    marks = Watermarks(FOLLOWED)
    mine = partition_of("u1")
    other = (mine + 1) % PARTITIONS
    marks.record(mark(3).model_copy(update={"partitions": (mine,)}))
    marks.record(mark(100).model_copy(update={"partitions": (other,)}))
    assert marks.behind(COMPLETED, 10) == ["workspace"]
    marks.record(mark(10).model_copy(update={"partitions": (mine,)}))
    assert marks.behind(COMPLETED, 10) == []


def test_an_event_does_not_wait_for_a_projection_not_followed():
    """The webhooks' or the usage projection, however far behind, holds back no event."""
    marks = Watermarks(FOLLOWED)
    marks.record(mark(1, name="webhooks", reads=("atelier.user.>",)))
    marks.record(mark(10))
    assert marks.behind(COMPLETED, 10) == []
