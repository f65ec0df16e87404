"""Baseline: the `eventsourcing` library's ProjectionRunner with its PostgreSQL tracking
recorder, applying the same events with the same projection code.

The events are stored, as they are on our log, in an eventsourcing application recorder
(PostgreSQL) of a database of their own. The library's runner subscribes to it and calls
`process_event(event, tracking)` for each; as the library's documentation shows, the view
(a `PostgresTrackingRecorder`) writes the tracking record and the change in one psycopg
transaction per event. The change is made by our real projections, through a small
adapter that gives them asyncpg's call shapes on the psycopg cursor.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent, Tracking, Transcoder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.types.json import Jsonb

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import decode_event, encode_event
from bench._platform import projections

DATABASE = "es_baseline"
_PARAM = re.compile(r"\$(\d+)")


class LoggedMessage:
    """What the library's mapper hands the projection: one message of our log, raw."""

    originator_id: uuid.UUID  # the user: one sequence of events per user
    originator_version: int
    subject: str
    payload: bytes


class RawTranscoder(Transcoder):
    """State = subject, newline, our event's JSON; decoded without touching the JSON, so
    the projection decodes it as our runner does (one parse and validation per event)."""

    def encode(self, obj: Any) -> bytes:
        return obj["subject"].encode() + b"\n" + obj["payload"]

    def decode(self, data: bytes) -> Any:
        subject, payload = data.split(b"\n", 1)
        return {"subject": subject.decode(), "payload": payload}


class LoggedEvents(Application):
    name = "atelier"

    def construct_transcoder(self) -> Transcoder:
        return RawTranscoder()


class _Cursor:
    """asyncpg's connection methods, as our projections call them, on a psycopg cursor."""

    def __init__(self, curs) -> None:
        self.curs = curs

    @staticmethod
    def _sql(query: str) -> str:
        return _PARAM.sub(r"%(p\1)s", query)

    @staticmethod
    def _params(args: Sequence[Any]) -> dict[str, Any]:
        return {f"p{i}": Jsonb(v) if isinstance(v, dict) else v for i, v in enumerate(args, 1)}

    async def execute(self, query: str, *args: Any) -> None:
        self.curs.execute(self._sql(query), self._params(args))

    async def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        self.curs.executemany(self._sql(query), [self._params(row) for row in rows])

    async def fetchrow(self, query: str, *args: Any):
        self.curs.execute(self._sql(query), self._params(args))
        return self.curs.fetchone()

    async def fetchval(self, query: str, *args: Any):
        row = await self.fetchrow(query, *args)
        return None if row is None else next(iter(row.values()))


def _run_sync(coroutine: Coroutine) -> Any:
    """Run a projection's `apply` whose awaits never suspend (the cursor is synchronous)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the projection awaited something other than the database")


class AtelierView(PostgresTrackingRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.projections = [projection for _, projection in projections()]

    def apply(self, message: LoggedMessage, tracking: Tracking) -> None:
        event = decode_event(message.subject, message.payload)
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            for projection in self.projections:
                if any(subjects.matches(f, message.subject) for f in projection.subjects):
                    _run_sync(projection.apply(_Cursor(curs), event))


class AtelierProjection(Projection[AtelierView]):
    name = "atelier_view"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(domain_event, tracking)


def _env(dsn: str) -> dict[str, str]:
    url = urlsplit(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": DATABASE,
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
    }


async def _prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(es_database(dsn))
    try:
        for _, projection in projections():
            await projection.create_tables(conn)
    finally:
        await conn.close()


def es_database(dsn: str) -> str:
    """The DSN of the baseline's own database on the same server."""
    return dsn.rsplit("/", 1)[0] + f"/{DATABASE}"


def _stored(events: Sequence[Envelope]) -> list[StoredEvent]:
    versions: dict[uuid.UUID, int] = {}
    stored = []
    for event in events:
        # One sequence per user: the library needs (originator, version) unique.
        version = versions[event.user_id] = versions.get(event.user_id, 0) + 1
        state = event.subject.encode() + b"\n" + encode_event(event)
        topic = f"{LoggedMessage.__module__}:{LoggedMessage.__qualname__}"
        stored.append(StoredEvent(event.user_id, version, topic, state))
    return stored


async def eventsourcing_run(events: Sequence[Envelope], dsn: str) -> float:
    """Store `events`, then time (seconds) the library's runner until its view has
    tracked them all."""
    await _prepare(dsn)
    env = _env(dsn)
    app = LoggedEvents(env)
    try:
        stored = _stored(events)
        last = 0
        for start in range(0, len(stored), 1000):
            last = max(app.recorder.insert_events(stored[start : start + 1000]) or [last])
    finally:
        app.close()
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=LoggedEvents,
        projection_class=AtelierProjection,
        view_class=AtelierView,
        env=env,
    ) as runner:
        runner.wait(last, timeout=3600)
    return time.perf_counter() - started
