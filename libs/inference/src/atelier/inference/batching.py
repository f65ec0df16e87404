"""Gathering jobs that can share a pipeline call.

A GPU worker holds several deliveries at once (its work consumer's concurrency); each one's
handler submits its job here and awaits the job's outcome. Jobs are taken in the order they
were dispatched (`order`; handlers that ran at different speeds do not reorder them), which
is the scheduler's fair order: the oldest waiting job and the ones right behind it with
the same batch key, while their images fit in the oldest one's capacity, make the next
group. A job never overtakes an older one (a compatible job behind an incompatible one
waits its turn), so a batch never lets one user's jobs pass another's. A job whose key is
None goes alone. When the worker is idle, a new job waits up to `window` seconds for companions
(less when enough compatible images arrive first), and so does the first job after a call
(the scheduler hands an idle worker its next jobs a moment after the call ends); jobs that
wait behind a busy worker gather by themselves. Groups run one at a time.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    key: Hashable | None
    rows: int
    arrived: float
    future: asyncio.Future[R] = field(repr=False)


class Batcher(Generic[T, R]):
    """`run(items)` makes the outcomes of a group (in order); `key(item)` says which items may
    share a group (None: none), `rows(item)` how many images an item makes and
    `capacity(item)` how many images a group started by `item` may hold."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        key: Callable[[T], Hashable | None],
        rows: Callable[[T], int],
        capacity: Callable[[T], int],
        window: float = 0.0,
        order: Callable[[T], int] | None = None,
    ) -> None:
        """`order(item)`: the item's place in line (the dispatch order): items that reach
        the batcher out of it (their handlers ran at different speeds) wait in it anyway;
        None: in the order they are submitted."""
        self._run = run
        self._key = key
        self._rows = rows
        self._capacity = capacity
        self._order = order
        self.window = window
        self._queue: list[_Waiting[T, R]] = []
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task | None = None
        #: When the last group ended: the worker is idle again from then, and the jobs the
        #: scheduler hands it for that (a moment later) may still join the next group.
        self._idle_since = 0.0

    @property
    def waiting(self) -> int:
        """Items submitted and not yet in a group."""
        return len(self._queue)

    async def submit(self, item: T) -> R:
        """The item's outcome, once a group holding it has run (its `run`'s exception if
        that raised)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(
            item, self._key(item), self._rows(item), loop.time(), loop.create_future()
        )
        if self._order is None:
            self._queue.append(waiting)
        else:
            places = [self._order(other.item) for other in self._queue]
            self._queue.insert(bisect.bisect_right(places, self._order(item)), waiting)
        self._arrived.set()
        if self._runner is None or self._runner.done():
            # A context of its own: the group's work belongs to no one submitter's trace.
            self._runner = loop.create_task(self._drain(), context=contextvars.Context())
        return await waiting.future

    async def _drain(self) -> None:
        while self._queue:
            await self._gather(self._queue[0])
            group = self._take_group()
            try:
                outcomes = await self._run([waiting.item for waiting in group])
            except BaseException as error:
                for waiting in group:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            finally:
                self._idle_since = asyncio.get_running_loop().time()
            for waiting, outcome in zip(group, outcomes, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(outcome)

    async def _gather(self, head: _Waiting[T, R]) -> None:
        """Wait for companions of `head` until its window ends or its capacity is full; the
        window opens when `head` arrived, or when the worker became idle again after it."""
        loop = asyncio.get_running_loop()
        if head.key is None:
            return
        opened = max(head.arrived, self._idle_since)
        while not self._full(head):
            remaining = opened + self.window - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _full(self, head: _Waiting[T, R]) -> bool:
        """Whether the group `head` starts cannot take more (full, or the next job waiting
        is not compatible: it goes first)."""
        group = self._group_of(head)
        rows = sum(waiting.rows for waiting in group)
        return rows >= self._capacity(head.item) or len(group) < len(self._queue)

    def _group_of(self, head: _Waiting[T, R]) -> list[_Waiting[T, R]]:
        """`head` and the jobs right behind it that share its key and fit."""
        group = [head]
        if head.key is not None:
            room = self._capacity(head.item) - head.rows
            for waiting in self._queue[1:]:
                if waiting.key != head.key or waiting.rows > room:
                    break
                group.append(waiting)
                room -= waiting.rows
        return group

    def _take_group(self) -> list[_Waiting[T, R]]:
        group = self._group_of(self._queue[0])
        self._queue = self._queue[len(group) :]
        return group
