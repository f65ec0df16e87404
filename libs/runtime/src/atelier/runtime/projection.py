"""Projections: pure functions of the log into tables, exactly once by construction.

A projection applies a batch of events and stores the stream sequence it reached **in
the same transaction**, one position per partition of users (atelier.runtime.positions).
It reads the log with an ephemeral, ordered pull consumer that starts right after the
lowest position of the partitions it applies, so the positions in PostgreSQL — not a
consumer's ack state — decide what is applied next. A crash, a redelivery or a second
replica can neither skip an event nor apply one twice.

Replicas share the partitions (atelier.runtime.leases): each applies the events of the
users of its partitions and skips the others' (by the subject's user, without decoding),
so two replicas apply twice the events of one. Each user's events keep their order;
events of different users may be applied in another order than the log's, which no table
depends on.

Live updates and a full rebuild run through the same `ProjectionRunner`; a rebuild
only points it at an empty shadow schema and stops when it has caught up.

One event never stops a projection. An event that does not decode, or that decodes but
whose writes the database refuses because of its data (`db.caused_by_data`: a NUL in a
text, a number out of range, a broken constraint), is dead-lettered and the position
moves past it in the same transaction; live and rebuild find the same such events, so a
rebuild still equals the live tables. A reader that sees a gap in what its consumer
delivered (a message lost while the connection came back) reads again from the stored
position. A runner that has a backlog and makes no progress is `stalled` (see /readyz).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from abc import ABC
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import asyncpg
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.partitions import PARTITIONS, partition_of, partition_of_subject
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.contracts.streams import EVENTS
from atelier.contracts.watermarks import Watermark
from atelier.runtime import positions, tracing
from atelier.runtime.db import CONNECTION_ERRORS, caused_by_data, identifier
from atelier.runtime.dead_letters import dead_letter
from atelier.runtime.handlers import subject_filters
from atelier.runtime.leases import PartitionLeases
from atelier.runtime.log_reader import LogMessage, ReaderGap, read_after
from atelier.runtime.metrics import (
    PROJECTION_LAG,
    PROJECTION_PARTITIONS,
    PROJECTION_RESTARTS,
    PROJECTION_STALLED,
)
from atelier.runtime.writes import Writes

log = logging.getLogger(__name__)


class Projection(Protocol):
    """What a service implements; the runner does the rest."""

    #: Names the tracking row and the dead-letter subject.
    name: str
    #: The event subjects (filters) this projection reads.
    subjects: Sequence[str]

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        """Create the projection's tables in the current search_path (idempotent)."""

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        """Apply one event inside the runner's transaction; must not do I/O beyond it."""


@runtime_checkable
class BatchedProjection(Projection, Protocol):
    """A projection that can also describe an event's effect as writes: a rebuild then
    sends a whole batch of events in a few statements (see atelier.runtime.writes)."""

    def write(self, event: Envelope, writes: Writes) -> None:
        """Add the writes that apply `event`; `apply` must do the same."""


WriteHandler = Callable[[Any, Writes], None]
WriteHandlers = Mapping[type[Envelope], WriteHandler]


class TableProjection(ABC):
    """A projection declared as one table, `{event type: the writes that apply it}`: the
    subjects it reads, `write` (a rebuild's batches) and `apply` (live) follow from it.
    Its tables are created by `ddl`, run in order."""

    name: ClassVar[str]
    ddl: ClassVar[tuple[str, ...]]
    handlers: ClassVar[WriteHandlers]
    subjects: ClassVar[tuple[str, ...]]
    #: Names it had before: the runner carries their position over (see `prepare`).
    former_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.subjects = subject_filters(cls.handlers)

    async def create_tables(self, conn: asyncpg.Connection) -> None:
        """Create the projection's tables in the current search_path (idempotent)."""
        for statement in self.ddl:
            await conn.execute(statement)

    def write(self, event: Envelope, writes: Writes) -> None:
        self.handlers[type(event)](event, writes)

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        writes = Writes()
        self.write(event, writes)
        await writes.flush(conn)


#: A failing reader waits this long before it reads again, doubling up to the last.
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0)
ALL_PARTITIONS = frozenset(range(PARTITIONS))


class ProjectionRunner:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        projection: Projection,
        schema: str,
        batch_size: int = 500,
        idle_wait: float = 0.5,
        on_applied: Callable[[int], None] | None = None,
        stream: str = EVENTS.name,
        replay: bool = False,
        announce: NatsClient | None = None,
        stall_seconds: float = 30.0,
        gap_check_seconds: float = 5.0,
        leases: PartitionLeases | None = None,
        lease_seconds: float = 2.0,
        partitions: Collection[int] = ALL_PARTITIONS,
    ) -> None:
        """`replay`: the events are old (a rebuild), so their traces are linked to, not
        joined. `announce`: publish the position reached on this connection (see
        atelier.contracts.watermarks), after every batch and every idle wait.
        `stall_seconds`: how long without progress, events waiting, makes it `stalled`.
        `gap_check_seconds`: how often an idle reader asks its consumer what it delivered
        (a message lost at the end of a burst would otherwise wait for the next event).
        `leases`: which partitions this replica applies, looked at every `lease_seconds`
        (None: `partitions`, all by default, as a lone runner does; a rebuild in
        parallel gives each process some)."""
        self.js = js
        self.pool = pool
        self.projection = projection
        self.schema = identifier(schema)
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.on_applied = on_applied
        self.stream = stream
        self.replay = replay
        self.announce = announce
        self.stall_seconds = stall_seconds
        self.gap_check_seconds = gap_check_seconds
        self.leases = leases
        self.lease_seconds = lease_seconds
        #: The partitions this runner applies now.
        self.held: frozenset[int] = frozenset(partitions) if leases is None else frozenset()
        self._applied = asyncio.Condition()
        #: When the runner last applied a batch or found nothing to apply (monotonic).
        self._progressed_at = time.monotonic()
        self._leased_at = -float("inf")

    async def prepare(self) -> None:
        """Create the schema, the positions and the projection's tables."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            former = getattr(self.projection, "former_names", ())
            await positions.create(conn, self.projection.name, PARTITIONS, former)
            await self.projection.create_tables(conn)

    async def position(self, partitions: Collection[int] | None = None) -> int:
        """The position every one of `partitions` (all by default) has reached."""
        async with self.pool.acquire() as conn:
            await conn.execute(f"SET search_path TO {self.schema}")
            return await positions.lowest(conn, self.projection.name, partitions)

    async def run(
        self, stop: asyncio.Event, *, until_caught_up: bool = False, prepared: bool = False
    ) -> int:
        """Follow the log until `stop` (or, for a rebuild, until the end of the log).

        Any failure (NATS, PostgreSQL, a hole in what was delivered, a bug) restarts the
        reader from the stored positions, after a pause that grows while failures repeat;
        so does a change in the partitions this replica holds. `prepared`: the schema and
        tables exist already (a rebuild's processes: creating them again while another
        process writes into them can deadlock).
        """
        if not prepared:
            await self.prepare()
        end = await self._last_stream_sequence() if until_caught_up else None
        failures = 0
        try:
            while not stop.is_set():
                try:
                    held = await self._claim()
                    if not held:  # other replicas apply every partition: nothing to do
                        self._progressed()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.lease_seconds)
                        continue
                    position = await self.position(held)
                    async for batch in self._read_from(position, stop):
                        if batch:
                            position = await self.apply_batch(batch)
                        elif end is not None:
                            return await self.position(held)  # idle: nothing more for our filter
                        self._progressed()
                        failures = 0
                        await self._announce(position)
                        if end is not None and batch and (position >= end or not batch[-1].pending):
                            return position  # nothing more for our filter: do not wait idle
                        if self._lease_due() and await self._claim() != held:
                            break  # partitions moved: read again from their positions
                except Exception as error:  # whatever it was, the stored positions are the truth
                    failures += 1
                    PROJECTION_RESTARTS.labels(self.projection.name).inc()
                    log.warning(
                        "projection reader restarts",
                        extra={"projection": self.projection.name, "error": repr(error)},
                        exc_info=not isinstance(error, _EXPECTED_FAILURES),
                    )
                    self._update_stalled()
                    delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1]
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
        finally:
            if self.leases is not None:
                await self.leases.close()
        return await self.position()

    async def _claim(self) -> frozenset[int]:
        """The partitions to apply now (with leases: after taking or giving some back)."""
        if self.leases is not None:
            self._leased_at = time.monotonic()
            self.held = await self.leases.rebalance()
        PROJECTION_PARTITIONS.labels(self.projection.name).set(len(self.held))
        return self.held

    def _lease_due(self) -> bool:
        return self.leases is not None and time.monotonic() - self._leased_at > self.lease_seconds

    def stalled(self) -> bool:
        """Whether the runner has gone `stall_seconds` without applying a batch or finding
        the log read to its end (a lock it waits for, a database refusing it, a bug)."""
        return time.monotonic() - self._progressed_at > self.stall_seconds

    def _progressed(self) -> None:
        self._progressed_at = time.monotonic()
        PROJECTION_STALLED.labels(self.projection.name).set(0)

    def _update_stalled(self) -> None:
        PROJECTION_STALLED.labels(self.projection.name).set(int(self.stalled()))

    async def catch_up_in(self, conn: asyncpg.Connection, until: Mapping[int, int]) -> None:
        """Apply, inside the caller's transaction, what lies between each partition's
        position and its position in `until` (the rebuild's swap: exactly the live ones)."""
        await conn.execute(f"SET LOCAL search_path TO {self.schema}")
        now = await positions.locked(conn, self.projection.name, until)
        start, last = min(now.values()), max(until.values())
        if start < last:
            async for batch in self._read_from(start, asyncio.Event()):
                if not batch:
                    break
                await self._apply(conn, batch, now, until)
                if batch[-1].sequence >= last:
                    break
        await positions.advance(conn, self.projection.name, until)

    async def _read_from(
        self, position: int, stop: asyncio.Event
    ) -> AsyncIterator[Sequence[LogMessage]]:
        """Batches of messages after `position`, in order and without a hole (see
        `log_reader.read_after`); an empty batch when idle."""
        async for batch in read_after(
            self.js,
            self.stream,
            self.projection.subjects,
            position,
            stop,
            batch_size=self.batch_size,
            idle_wait=self.idle_wait,
            gap_check_seconds=self.gap_check_seconds,
        ):
            PROJECTION_LAG.labels(self.projection.name).set(batch[-1].pending if batch else 0)
            yield batch

    async def apply_batch(self, messages: Sequence[LogMessage]) -> int:
        """Apply the messages of the partitions held that are past their positions, and
        store the new positions, atomically; the lowest of the held partitions' now."""
        held = self.held
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            now = await positions.locked(conn, self.projection.name, held)
            applied = await self._apply(conn, messages, now)
            end = messages[-1].sequence
            await positions.advance(conn, self.projection.name, dict.fromkeys(now, end))
        position = max(end, min(now.values()))
        if applied:
            if self.on_applied:
                self.on_applied(position)
            async with self._applied:
                self._applied.notify_all()
        return position

    async def _announce(self, position: int) -> None:
        if self.announce is None or not self.announce.is_connected:
            return
        mark = Watermark(
            projection=self.projection.name,
            position=position,
            subjects=tuple(self.projection.subjects),
            partitions=tuple(sorted(self.held)),
        )
        await self.announce.publish(
            subjects.projected(self.projection.name), mark.model_dump_json().encode()
        )

    async def wait_until_shown(self, event: Envelope, sequence: int) -> None:
        """After a command appended `event` at `sequence`: wait until the tables show it,
        if this projection reads such events at all."""
        if any(subjects.matches(f, event.subject) for f in self.projection.subjects):
            await self.wait_for(sequence, event.user_id)

    async def wait_for(
        self, sequence: int, user_id: uuid.UUID | None = None, timeout: float = 3.0
    ) -> bool:
        """Wait until the tables reflect log position `sequence` for `user_id`'s partition
        (all partitions without one): read-your-writes.

        Commands call it after appending, so the user's next read sees the change. It
        also notices another replica's commit (polling), and gives up after `timeout`:
        the change is on the log either way.
        """
        partitions = None if user_id is None else [partition_of(user_id)]
        try:
            async with asyncio.timeout(timeout):
                while await self.position(partitions) < sequence:
                    async with self._applied:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._applied.wait(), 0.05)
        except TimeoutError:
            log.warning("projection behind", extra={"waited_for": sequence})
            return False
        return True

    async def _apply(
        self,
        conn: asyncpg.Connection,
        messages: Sequence[LogMessage],
        now: Mapping[int, int],
        until: Mapping[int, int] | None = None,
    ) -> int:
        """Apply, in the caller's transaction, the messages of partitions in `now` past
        their positions there (and, with `until`, not past those); how many."""
        fresh = []
        for msg in messages:
            sequence, partition = msg.sequence, partition_of_subject(msg.subject)
            past = partition in now and now[partition] < sequence
            if past and (until is None or sequence <= until[partition]):
                fresh.append(msg)
        # (the others: other replicas' partitions, or applied already by an earlier run)
        if not fresh:
            return 0
        decoded = [(msg, await self._decode(msg)) for msg in fresh]
        events = [(msg, event) for msg, event in decoded if event is not None]
        if self.replay:
            name = f"rebuild {self.projection.name}"
            with tracing.replay_span(name, self.projection.name, [m.headers for m in fresh]):
                await self._apply_all(conn, events)
        else:
            await self._apply_all(conn, events)
        return len(fresh)

    async def _apply_all(
        self, conn: asyncpg.Connection, events: Sequence[tuple[LogMessage, Envelope]]
    ):
        """All at once; if the data of some event is refused, one at a time, each in a
        savepoint of its own, dead-lettering those refused: the same events whether live
        or in a rebuild, since each is tried on the tables as its predecessors left them."""
        try:
            async with conn.transaction():  # a savepoint: the batch as a whole
                if self.replay and isinstance(self.projection, BatchedProjection):
                    writes = Writes()
                    for _, event in events:
                        self.projection.write(event, writes)
                    await writes.flush(conn)
                else:
                    for msg, event in events:
                        await self._apply_one(conn, msg, event)
        except Exception as error:
            if not caused_by_data(error):
                raise
        else:
            return
        for msg, event in events:
            try:
                async with conn.transaction():
                    await self._apply_one(conn, msg, event)
            except Exception as error:
                if not caused_by_data(error):
                    raise
                reason = f"cannot be applied: {type(error).__name__}: {error}"
                await dead_letter(self.js, self.projection.name, msg, reason, "unappliable")

    async def _apply_one(self, conn: asyncpg.Connection, msg: LogMessage, event: Envelope) -> None:
        if self.replay:
            await self.projection.apply(conn, event)
            return
        with tracing.process_span(event.type, msg.subject, msg.headers, group=self.projection.name):
            await self.projection.apply(conn, event)

    async def _decode(self, msg: LogMessage) -> Envelope | None:
        """The event, or None when it is poison (then it is dead-lettered)."""
        try:
            return decode_event(msg.subject, msg.data)
        except UndecodableEvent as error:
            await dead_letter(self.js, self.projection.name, msg, str(error), "undecodable")
            return None

    async def _last_stream_sequence(self) -> int:
        info = await self.js.stream_info(self.stream)
        return info.state.last_seq


#: Failures a reader meets in normal operation (servers restarting, connections breaking,
#: a message lost on the way): logged without a traceback.
_EXPECTED_FAILURES = (
    TimeoutError,
    ReaderGap,
    nats.errors.Error,
    asyncpg.PostgresError,
    *CONNECTION_ERRORS,
)
