"""Live delivery to the `/v1/events` streams open on one gateway process.

One ordered consumer of every user's events per process, not one per open browser tab
(10,000 tabs would be 10,000 consumers on the server), and one core NATS subscription to
a user's progress while that user has a stream open here. Each event is framed once and
handed to its user's streams in memory.

A stream that resumes after `Last-Event-ID` first reads what it missed through a replay
consumer of its own, closed once caught up. Its live frames wait meanwhile; a live frame
at or below the last one replayed is a repeat and is dropped. The stream is registered
before the replay starts, so an event lands in the replay, in the live frames, or in
both, never in neither: nothing is missed and nothing comes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atelier.contracts import subjects
from atelier.contracts.streams import EVENTS
from atelier.gateway.event_frames import Frame, progress_frame
from atelier.runtime.log_reader import LogReader

#: Frames one stream may hold for a client that reads slower than its events come;
#: beyond them the stream ends, and the client resumes from its last id.
MAX_HELD = 10_000
REPLAY_BATCH = 256
#: Replays at once on one process: a reconnect storm after a deploy queues here instead
#: of asking the server for thousands of consumers at once (nats-server 2.15 refuses a
#: stream's 1,001st consumer unless the stream sets another limit).
MAX_REPLAYS = 32

FrameEvent = Callable[[str, bytes, Mapping[str, str] | None, int], Awaitable[Frame]]


class LostReplay(Exception):
    """A message of a replay did not arrive: the stream ends, the client resumes."""


class Stream:
    """One open event stream: the frames waiting to be sent to it."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.frames: asyncio.Queue[Frame] = asyncio.Queue(MAX_HELD)
        self.overflowed = False

    def put(self, frame: Frame) -> None:
        if self.frames.full():
            self.overflowed = True
        else:
            self.frames.put_nowait(frame)


class LiveEvents:
    def __init__(self, nc: NatsClient, frame: FrameEvent) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.frame = frame
        self._streams: dict[str, set[Stream]] = {}
        self._progress: dict[str, Subscription] = {}
        #: Opening and closing change a user's progress subscription: one at a time.
        self._lock = asyncio.Lock()
        self._replays = asyncio.Semaphore(MAX_REPLAYS)

    async def start(self) -> None:
        await self.js.subscribe(
            subjects.every_users_events(),
            stream=EVENTS.name,
            cb=self._on_event,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )

    async def open(self, user_id: uuid.UUID) -> Stream:
        """A stream that gets the user's events from now on, until `close`."""
        user = str(user_id)
        stream = Stream(user)
        async with self._lock:
            self._streams.setdefault(user, set()).add(stream)
            if user not in self._progress:
                self._progress[user] = await self.nc.subscribe(
                    subjects.user_progress(user_id), cb=self._on_progress
                )
        return stream

    async def close(self, stream: Stream) -> None:
        async with self._lock:
            streams = self._streams.get(stream.user, set())
            streams.discard(stream)
            if not streams:
                self._streams.pop(stream.user, None)
                subscription = self._progress.pop(stream.user, None)
                if subscription is not None:
                    await subscription.unsubscribe()

    async def replay(self, user_id: uuid.UUID, after: int) -> AsyncIterator[Frame]:
        """The user's events after stream sequence `after`, up to the end of the log."""
        async with self._replays, contextlib.aclosing(self._replay(user_id, after)) as frames:
            async for frame in frames:
                yield frame

    async def _replay(self, user_id: uuid.UUID, after: int) -> AsyncIterator[Frame]:
        reader = LogReader(self.js, EVENTS.name)
        await reader.open(
            ConsumerConfig(
                filter_subject=subjects.user_events(user_id),
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=30.0,
                mem_storage=True,
            )
        )
        expected = 1
        try:
            while batch := await reader.available(REPLAY_BATCH):
                for message in batch:
                    if message.delivery != expected:
                        raise LostReplay(f"delivery {expected} did not arrive")
                    expected += 1
                    yield await self.frame(
                        message.subject, message.data, message.headers, message.sequence
                    )
                if batch[-1].pending == 0:
                    return
        finally:
            await reader.close()

    async def _on_event(self, msg: Msg) -> None:
        streams = self._streams.get(subjects.user_token_of(msg.subject) or "")
        if not streams:
            return
        frame = await self.frame(msg.subject, msg.data, msg.headers, msg.metadata.sequence.stream)
        for stream in list(streams):
            stream.put(frame)

    async def _on_progress(self, msg: Msg) -> None:
        # atelier.progress.{user}.{job}
        streams = self._streams.get(msg.subject.split(".")[2], ())
        if streams:
            frame = progress_frame(msg.data)
            for stream in list(streams):
                stream.put(frame)
