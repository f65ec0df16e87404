"""Projection rebuild: a realistic log rebuilt into the workspace and library tables.

The real path: `atelier.runtime.rebuild.rebuild` (the ProjectionRunner reading the log
from JetStream, shadow schema, swap) with the real workspace and library projections, on
a private nats-server and PostgreSQL; in this process, then in 2 and 4 processes that
each apply some of the partitions (`atelier.runtime.rebuild_processes`). Each rebuild's
CPU time is measured per party (the runner processes, PostgreSQL, nats-server), so the
figure for a machine with more cores can be worked out. Baselines on the same events, in
the same run: a naive projector (one transaction per event, same projection code) and the
`eventsourcing` library's ProjectionRunner with its PostgreSQL tracking recorder (see
`_es_baseline`).

    BENCH_EVENTS            events in the log (default 100000)
    BENCH_REBUILD_RUNS      timed rebuilds of the real path, per number of processes
                            (default 3; the median counts)
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

from atelier.contracts.partitions import PARTITIONS, partition_of_subject
from atelier.contracts.registry import decode_event
from atelier.contracts.streams import EVENTS
from atelier.runtime import positions
from atelier.runtime.bus import connect, ensure_streams
from atelier.runtime.db import create_pool
from atelier.runtime.projection import ProjectionRunner
from atelier.runtime.rebuild import rebuild
from atelier.runtime.rebuild_processes import RebuildProcesses
from bench import Record, Report, run_alone
from bench._es_baseline import es_database, eventsourcing_run
from bench._events import realistic_log
from bench._platform import (
    cpu_seconds,
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
PROCESSES = (1, 2, 4)
CLOSING = (
    "Where the time goes, and what would close it: the CPU columns above are per event, "
    "for the whole rebuild. The runner's share is Python: pydantic decoding and validating "
    "each event (about 20 µs; validation is kept on replay on purpose: the log takes events "
    "straight from the workers, so a rebuild must refuse exactly what the live projection "
    "refused), turning it into writes and asyncpg encoding them, and reading it off the "
    "wire (about 10 µs with `atelier.runtime.log_reader`, against 45 µs through nats-py's "
    "`fetch`). More processes add cores, not speed per event: each also reads the events "
    "of the partitions it skips. On this 2-core machine, shared by the runner processes, "
    "PostgreSQL and nats-server, 100,000 events/s would need the whole rebuild at 20 µs "
    "of CPU per event; divide the sum of the CPU columns by the cores of a bigger machine "
    "for its figure. Closing the rest: a stream partitioned by the server (a subject "
    "transform with `partition(16, user)`) so each process receives only its own events; "
    "a compiled decoder for replay; COPY into the shadow tables for the insert-only writes."
)
TABLES = {"workspace_assets", "generation_jobs", "user_library", "user_collections"}


@dataclass
class Cpu:
    """CPU seconds of one rebuild, per party."""

    runner: float = 0.0
    postgres: float = 0.0
    nats: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.runner + other.runner, self.postgres + other.postgres, self.nats + other.nats
        )


@dataclass
class Run:
    label: str
    events: int
    seconds: list[float]
    rows: dict[str, str] = field(default_factory=dict)
    cpu: list[Cpu] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / median(self.seconds)

    def cpu_us(self, party: str) -> float:
        """Median CPU microseconds per event of `party`."""
        return median([getattr(cpu, party) for cpu in self.cpu]) / self.events * 1e6


class Meter:
    """CPU time of this process, of PostgreSQL and of nats-server (the rebuild's own
    processes report theirs: `RebuildReport.processes_cpu_seconds`)."""

    def __init__(self, servers) -> None:
        self.nats_pid, self.postgres_pid = (server.pid for server in servers)

    def read(self) -> Cpu:
        runner = time.process_time()
        return Cpu(runner, cpu_seconds(self.postgres_pid), cpu_seconds(self.nats_pid))

    def since(self, before: Cpu) -> Cpu:
        now = self.read()
        return Cpu(
            now.runner - before.runner, now.postgres - before.postgres, now.nats - before.nats
        )


async def _rebuild_all(js, servers, count: int, meter: Meter | None = None) -> tuple[float, Cpu]:
    """Both projections rebuilt through the real path, in `count` processes (1: this
    one); the seconds it took and the CPU it used."""
    nats_server, postgres = servers
    seconds, cpu = 0.0, Cpu()
    for schema, projection in projections():
        pool = await create_pool(postgres.url, schema)
        processes = None
        if count > 1:
            processes = RebuildProcesses(nats_server.url, postgres.url, count)
        try:
            await ProjectionRunner(js=js, pool=pool, projection=projection, schema=schema).prepare()
            before = meter.read() if meter else Cpu()
            started = time.perf_counter()
            report = await rebuild(
                js=js, pool=pool, projection=projection, schema=schema, processes=processes
            )
            seconds += time.perf_counter() - started
            if meter:
                cpu += meter.since(before) + Cpu(runner=report.processes_cpu_seconds)
        finally:
            await pool.close()
    return seconds, cpu


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
    with scratch_dir("rebuild") as data, nats_and_postgres(data) as servers:
        nats_server, postgres = servers
        dsn, meter = postgres.url, Meter(servers)
        nc = await connect(nats_server.url, name="bench-rebuild")
        try:
            await ensure_streams(nc)
            js = nc.jetstream()
            started = time.perf_counter()
            last = await publish_log(js, log)
            published = time.perf_counter() - started
            real = []
            for count in PROCESSES:
                run = Run(_label(count), last, [])
                for _ in range(runs):
                    seconds, cpu = await _rebuild_all(js, servers, count, meter)
                    run.seconds.append(seconds)
                    run.cpu.append(cpu)
                run.rows = await _rows(dsn, {schema for schema, _ in projections()})
                real.append(run)
            expected = await _prefix_rows(js, dsn, baseline_events)
            best = max(real, key=lambda run: run.rate)
            profile = ""
            if best.rate < TARGET:
                _, profile = await profiled(_rebuild_all(js, servers, 1))
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
    baselines = [naive, library]
    body = _render(log, made, published, real, best, baselines, expected)
    if profile:
        body += "\n\nOne more rebuild in one process, profiled (pyinstrument):\n\n" + profile
        body += f"\n\n{CLOSING}"
    report.add("Projection rebuild", body)
    fastest_baseline = max(baselines, key=lambda run: run.rate)
    report.record(
        Record(
            "rebuild_events_per_s",
            round(best.rate),
            "events/s",
            target=TARGET,
            met=_met(best, baselines),
            baseline=round(fastest_baseline.rate),
            baseline_name=fastest_baseline.label,
        )
    )


def _label(count: int) -> str:
    if count == 1:
        return f"`rebuild`, 1 process ({PARTITIONS} partitions)"
    return f"`rebuild`, {count} processes ({PARTITIONS // count} partitions each)"


def _met(best: Run, baselines: list[Run]) -> bool:
    return best.rate >= TARGET and all(best.rate > run.rate for run in baselines)


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
                await runner.catch_up_in(conn, dict.fromkeys(range(PARTITIONS), limit))
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


def _render(log, made, published, real: list[Run], best: Run, baselines: list[Run], expected):
    kinds = Counter(event.type for event in log)
    mix = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
    lines = [
        f"{len(log)} events of 1000 users from the real contracts ({mix}), made in {made:.1f} s "
        f"and published to a private JetStream in {published:.1f} s "
        f"({len(log) / published:,.0f} events/s, pipelined acks).",
        "",
        "| projector | events | s (median) | events/s | fastest real is | same rows "
        "| CPU µs/event: runner | PostgreSQL | nats-server |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in (*real, *baselines):
        if run in real:
            same = "yes" if run.rows == real[0].rows else f"NO: {run.rows}"
            cpu = " | ".join(f"{run.cpu_us(party):.1f}" for party in ("runner", "postgres", "nats"))
        else:
            same = "yes" if run.rows == expected else f"NO: {run.rows}"
            cpu = "- | - | -"
        lines.append(
            f"| {run.label} | {run.events} | {median(run.seconds):.2f} "
            f"({len(run.seconds)} run(s)) | {run.rate:,.0f} | {best.rate / run.rate:.2f}x "
            f"as fast | {same} | {cpu} |"
        )
    tables = "; ".join(f"{table}: {digest}" for table, digest in sorted(real[0].rows.items()))
    met = "met" if _met(best, baselines) else "MISSED"
    lines += [
        "",
        f"- tables after the rebuild: {tables}; same rows: every way of rebuilding leaves "
        "these tables, row for row (count and md5 of all rows)",
        f"- the baselines project the first {baselines[0].events:,} events of the same log; "
        "same rows: their tables equal what the real runner makes of those events",
        "- CPU µs/event: CPU time (user + system) of each party during the rebuild, divided "
        "by the events: the runner (this process, and the processes it started), "
        "PostgreSQL (every backend), nats-server",
        f"- target ≥ {TARGET:,} events/s and ahead of both baselines: **{met}** "
        f"(best: {best.label}, {best.rate:,.0f} events/s)",
    ]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Rebuild the workspace and library projections from a realistic log."""
    asyncio.run(_bench(report))


if __name__ == "__main__":
    run_alone("projection_rebuild", main)
