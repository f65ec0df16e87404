"""Follow the projections' watermarks, to show users only what the tables already show.

Projection runners announce their position after each batch and every idle wait (see
atelier.contracts.watermarks). `Watermarks.shown` waits until every followed projection
that reads an event has applied it (the gateway follows those whose tables users read
back: `SHOWN_TO_USERS`). A projection not heard from for `stale_after` seconds
(stopped, or busy with one long batch) is not waited for: a late event is better than
a stuck stream. Neither is one this process has not heard of yet (just after start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from atelier.contracts import subjects
from atelier.contracts.partitions import partition_of_subject
from atelier.contracts.watermarks import Watermark

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    mark: Watermark
    at: float


class Watermarks:
    def __init__(self, projections: Collection[str], *, stale_after: float = 3.0) -> None:
        """`projections`: the names of those to wait for; the others' marks are ignored."""
        self.projections = frozenset(projections)
        self.stale_after = stale_after
        #: (projection, partition) → the last mark heard for it.
        self._seen: dict[tuple[str, int], _Seen] = {}
        self._changed = asyncio.Condition()

    async def follow(self, nc: NatsClient) -> None:
        await nc.subscribe(f"{subjects.PROJECTED_ROOT}.*", cb=self._on_mark)

    async def _on_mark(self, msg) -> None:
        try:
            mark = Watermark.model_validate_json(msg.data)
        except ValidationError:
            log.warning("ignored a malformed watermark", extra={"subject": msg.subject})
            return
        await self.update(mark)

    async def update(self, mark: Watermark) -> None:
        """Record `mark` and wake those waiting for it."""
        self.record(mark)
        async with self._changed:
            self._changed.notify_all()

    def record(self, mark: Watermark) -> None:
        """Per partition the mark is about; positions only grow (a replica that has just
        given a partition away may still announce its older position)."""
        if mark.projection not in self.projections:
            return
        now = time.monotonic()
        for partition in mark.partitions:
            seen = self._seen.get((mark.projection, partition))
            kept = seen.mark if seen is not None and seen.mark.position > mark.position else mark
            self._seen[mark.projection, partition] = _Seen(kept, now)

    def behind(self, subject: str, sequence: int) -> list[str]:
        """Live projections that read `subject` and have not applied `sequence` yet (in
        the partition of the subject's user)."""
        now, partition = time.monotonic(), partition_of_subject(subject)
        return [
            name
            for (name, of), seen in self._seen.items()
            if of == partition
            and now - seen.at < self.stale_after
            and seen.mark.position < sequence
            and any(subjects.matches(f, subject) for f in seen.mark.subjects)
        ]

    async def shown(self, subject: str, sequence: int, timeout: float) -> bool:
        """Wait (at most `timeout` s) until the event at `sequence` on `subject` is in
        every live projection that reads it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.behind(subject, sequence):
                    async with self._changed:
                        # wake on news, or to notice a projection going stale
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), self.stale_after)
                return True
        log.warning("delivered before the projections caught up", extra={"sequence": sequence})
        return False
