"""Projection rebuild: a realistic log rebuilt into the workspace and library tables.

The real path: `atelier.runtime.rebuild.rebuild` (the ProjectionRunner reading the log
from JetStream, shadow schema, swap) with the real workspace and library projections, on
a private nats-server and PostgreSQL. Baselines on the same events, in the same run: a
naive projector (one transaction per event, same projection code) and the `eventsourcing`
library's ProjectionRunner with its PostgreSQL tracking recorder (see `_es_baseline`).

    BENCH_EVENTS            events in the log (default 100000)
    BENCH_REBUILD_RUNS      timed rebuilds of the real path (default 3; the median counts)
    BENCH_BASELINE_EVENTS   the first events of the same log the baselines project
                            (default 20000: at a few hundred events/s all 100,000 would
                            take many minutes; rates are per event either way)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atelier.contracts.partitions import partition_of_subject
from atelier.contracts.registry import decode_event
from atelier.contracts.streams import EVENTS
from atelier.runtime import positions
from atelier.runtime.bus import connect, ensure_streams
from atelier.runtime.db import create_pool
from atelier.runtime.projection import ProjectionRunner
from atelier.runtime.rebuild import rebuild
from bench import Report, run_alone
from bench._es_baseline import es_database, eventsourcing_run
from bench._events import realistic_log
from bench._platform import (
    env_int,
    median,
    nats_and_postgres,
    profiled,
    projections,
    publish_log,
    quick,
    scratch_dir,
)

TARGET = 100_000  # events/s
CLOSING = (
    "What would close it: PostgreSQL is no longer the limit (a rebuild sends a few "
    "`executemany` per batch of 5,000 events, see `atelier.runtime.writes`); the runner is "
    "CPU-bound in one Python process: nats-py parsing each message and its metadata, "
    "pydantic decoding and validating each event, building its writes. 100,000 events/s "
    "needs that work spread over processes (the log partitioned by user, one position per "
    "partition) or a decoder that skips re-validating events the log already accepted; "
    "on 2 cores shared with other work neither would reach it here."
)
TABLES = {"workspace_assets", "generation_jobs", "user_library", "user_collections"}


@dataclass
class Run:
    label: str
    events: int
    seconds: list[float]
    rows: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / median(self.seconds)


async def _rebuild_all(js, dsn: str) -> float:
    """Both projections rebuilt through the real path; the seconds it took."""
    seconds = 0.0
    for schema, projection in projections():
        pool = await create_pool(dsn, schema)
        try:
            await ProjectionRunner(js=js, pool=pool, projection=projection, schema=schema).prepare()
            started = time.perf_counter()
            await rebuild(js=js, pool=pool, projection=projection, schema=schema)
            seconds += time.perf_counter() - started
        finally:
            await pool.close()
    return seconds


async def _naive(js, dsn: str, limit: int) -> float:
    """One transaction per event (the projection's writes and its position), reading
    the log in the same batches as the runner; the seconds it took for `limit` events."""
    seconds = 0.0
    for schema, projection in projections():
        pool = await create_pool(dsn, f"naive_{schema}")
        try:
            async with pool.acquire() as conn:
                await conn.execute(positions.DDL)
                await projection.create_tables(conn)
            sub = await js.pull_subscribe(
                "",
                stream=EVENTS.name,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.NONE,
                    filter_subjects=list(projection.subjects),
                    mem_storage=True,
                ),
            )
            started = time.perf_counter()
            done = False
            while not done:
                try:
                    batch = await sub.fetch(500, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for msg in batch:
                    sequence = msg.metadata.sequence.stream
                    if sequence > limit:
                        done = True
                        break
                    async with pool.acquire() as conn, conn.transaction():
                        await projection.apply(conn, decode_event(msg.subject, msg.data))
                        await conn.execute(
                            "INSERT INTO projection_positions (projection, partition, position)"
                            " VALUES ($1, $2, $3) ON CONFLICT (projection, partition)"
                            " DO UPDATE SET position = $3",
                            projection.name,
                            partition_of_subject(msg.subject),
                            sequence,
                        )
            seconds += time.perf_counter() - started
            await sub.unsubscribe()
        finally:
            await pool.close()
    return seconds


async def _bench(report: Report) -> None:
    total = env_int("BENCH_EVENTS", 10_000 if quick() else 100_000)
    runs = env_int("BENCH_REBUILD_RUNS", 1 if quick() else 3)
    baseline_events = min(total, env_int("BENCH_BASELINE_EVENTS", 20_000))
    started = time.perf_counter()
    log = realistic_log(total)
    made = time.perf_counter() - started
    with scratch_dir("rebuild") as data, nats_and_postgres(data) as (nats_url, dsn):
        nc = await connect(nats_url, name="bench-rebuild")
        try:
            await ensure_streams(nc)
            js = nc.jetstream()
            started = time.perf_counter()
            last = await publish_log(js, log)
            published = time.perf_counter() - started
            real = Run("ProjectionRunner via `rebuild` (real path)", last, [])
            for _ in range(runs):
                real.seconds.append(await _rebuild_all(js, dsn))
            real.rows = await _rows(dsn, {schema for schema, _ in projections()})
            expected = await _prefix_rows(js, dsn, baseline_events)
            profile = ""
            if real.rate < TARGET:
                _, profile = await profiled(_rebuild_all(js, dsn))
            naive = Run("naive: one transaction per event", baseline_events, [])
            naive.seconds.append(await _naive(js, dsn, baseline_events))
            naive.rows = await _rows(dsn, {"naive_workspace", "naive_library"})
            library = Run(
                "`eventsourcing` ProjectionRunner + PostgresTrackingRecorder",
                baseline_events,
                [await eventsourcing_run(log[:baseline_events], dsn)],
            )
            library.rows = await _rows(es_database(dsn), {"public"})
        finally:
            await nc.close()
    body = _render(log, made, published, real, [naive, library], expected)
    if profile:
        body += f"\n\nOne more rebuild of the real path, profiled (pyinstrument):\n\n{profile}"
        body += f"\n\n{CLOSING}"
    report.add("Projection rebuild", body)


async def _prefix_rows(js, dsn: str, limit: int) -> dict[str, str]:
    """The tables the real runner (its batched replay) makes of the first `limit` events:
    what the baselines, given those events, must make too."""
    for schema, projection in projections():
        pool = await create_pool(dsn, f"check_{schema}")
        try:
            runner = ProjectionRunner(
                js=js, pool=pool, projection=projection, schema=f"check_{schema}", replay=True
            )
            await runner.prepare()
            async with pool.acquire() as conn, conn.transaction():
                await runner.catch_up_in(conn, limit)
        finally:
            await pool.close()
    return await _rows(dsn, {f"check_{schema}" for schema, _ in projections()})


async def _rows(dsn: str, schemas: set[str]) -> dict[str, str]:
    """Rows and a digest of their contents, per projection table of `schemas`: two
    projectors of the same events must leave identical tables."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = any($1::text[])",
            list(schemas),
        )
        digests = {}
        for row in tables:
            if row["table_name"] in TABLES:
                count, digest = await conn.fetchrow(
                    "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) "
                    f"FROM {row['table_schema']}.{row['table_name']} t"
                )
                digests[row["table_name"]] = f"{count} rows, md5 {digest[:8]}"
        return digests
    finally:
        await conn.close()


def _render(log, made, published, real: Run, baselines: list[Run], expected) -> str:
    kinds = Counter(event.type for event in log)
    mix = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
    met = "met" if real.rate >= TARGET and all(real.rate > b.rate for b in baselines) else "MISSED"
    lines = [
        f"{len(log)} events of 1000 users from the real contracts ({mix}), made in {made:.1f} s "
        f"and published to a private JetStream in {published:.1f} s "
        f"({len(log) / published:,.0f} events/s, pipelined acks).",
        "",
        "| projector | events | s (median) | events/s | real path is | same rows |",
        "|---|---|---|---|---|---|",
    ]
    for run in (real, *baselines):
        same = "-" if run is real else ("yes" if run.rows == expected else f"NO: {run.rows}")
        lines.append(
            f"| {run.label} | {run.events} | {median(run.seconds):.2f} "
            f"({len(run.seconds)} run(s)) | {run.rate:,.0f} | {real.rate / run.rate:.2f}x "
            f"as fast | {same} |"
        )
    tables = "; ".join(f"{table}: {digest}" for table, digest in sorted(real.rows.items()))
    lines += [
        "",
        f"- tables after the rebuild: {tables}",
        f"- the baselines project the first {baselines[0].events:,} events of the same log; "
        "same rows: their tables equal, row for row (count and md5 of all rows), what the "
        "real runner makes of those events",
        f"- target ≥ {TARGET:,} events/s and ahead of both baselines: **{met}**",
    ]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Rebuild the workspace and library projections from a realistic log."""
    asyncio.run(_bench(report))


if __name__ == "__main__":
    run_alone("projection_rebuild", main)
