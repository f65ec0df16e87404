"""How many jobs each model's workers hold at once, from their announcements.

Workers say so every `CAPACITY_INTERVAL_SECONDS` on core NATS once warm; a worker silent
for `CAPACITY_TTL_SECONDS` (stopped, killed, partitioned away) no longer counts. Its jobs
still count as running until their outcome is on the log: the durable consumer gives
them to another worker after their ack wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from atelier.contracts import subjects
from atelier.contracts.scheduling import CAPACITY_TTL_SECONDS, WorkerCapacity

log = logging.getLogger(__name__)


class Capacity:
    def __init__(
        self, ttl: float = CAPACITY_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.clock = ttl, clock
        self._workers: dict[tuple[str, str], tuple[int, float]] = {}
        #: Set when a model's workers can start more than before (a call ended).
        self.grown = asyncio.Event()

    def heard(self, announcement: WorkerCapacity) -> None:
        key = (announcement.model, announcement.worker)
        before = self._workers.get(key, (0, 0.0))[0]
        self._workers[key] = (announcement.slots, self.clock() + self.ttl)
        if announcement.slots > before:
            self.grown.set()

    def slots(self, model: str) -> int:
        now = self.clock()
        return sum(
            slots
            for (of, _), (slots, until) in self._workers.items()
            if of == model and until > now
        )

    def all_slots(self) -> dict[str, int]:
        """Per model; a worker long gone is forgotten here."""
        now = self.clock()
        for key in [key for key, (_, until) in self._workers.items() if until <= now]:
            del self._workers[key]
        return {model: self.slots(model) for model in {model for model, _ in self._workers}}

    async def follow(self, nc: NatsClient) -> None:
        async def on_message(msg: Msg) -> None:
            try:
                announcement = WorkerCapacity.model_validate_json(msg.data)
            except ValidationError as error:
                log.warning("not a capacity announcement", extra={"error": str(error)[:300]})
                return
            if msg.subject == subjects.worker_capacity(announcement.model):
                self.heard(announcement)

        await nc.subscribe(subjects.worker_capacity(), cb=on_message)
