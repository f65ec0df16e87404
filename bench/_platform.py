"""Helpers of the platform benchmarks (projections, gateway, listing): private embedded
servers, publishing a log fast, percentiles and the knobs they read."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from nats.js.client import JetStreamContext

from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import encode_event
from atelier.contracts.streams import EVENTS
from atelier.library.projection import LibraryProjection
from atelier.runtime.projection import Projection
from atelier.stack.servers import EmbeddedNats, EmbeddedPostgres, EmbeddedServers
from atelier.workspace.projection import WorkspaceProjection

T = TypeVar("T")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def quick() -> bool:
    """BENCH_QUICK=1: small sizes, for developing the benchmarks (figures not meaningful)."""
    return os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")


def projections() -> list[tuple[str, Projection]]:
    """The real projections of the workspace and library services, by their schema."""
    return [("workspace", WorkspaceProjection(retention_days=7)), ("library", LibraryProjection())]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"atelier-bench-{prefix}-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def nats_and_postgres(data_dir: Path) -> Iterator[tuple[str, str]]:
    """A private nats-server and PostgreSQL (no S3): (nats_url, database_url)."""
    nats, postgres = EmbeddedNats(data_dir), EmbeddedPostgres(data_dir)
    nats.start()
    try:
        postgres.start()
        try:
            yield nats.url, postgres.url
        finally:
            postgres.stop()
    finally:
        nats.stop()


@contextlib.contextmanager
def all_servers(data_dir: Path) -> Iterator[EmbeddedServers]:
    with EmbeddedServers(data_dir) as servers:
        yield servers


async def publish_log(js: JetStreamContext, events: Sequence[Envelope]) -> int:
    """Append `events` in order with pipelined acks (JetStream keeps the publish order of
    one connection); returns the last stream sequence."""
    for event in events:
        await js.publish_async(
            event.subject, encode_event(event), headers={"Nats-Msg-Id": event.dedup_id}
        )
    await js.publish_async_completed()
    return (await js.stream_info(EVENTS.name)).state.last_seq


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def profiled(awaitable: Awaitable[T], lines: int = 18) -> tuple[T, str]:
    """Await under pyinstrument; the result and the top of its flat profile (self time,
    awaits included), as a markdown code block."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    try:
        result = await awaitable
    finally:
        profiler.stop()
    text = profiler.output_text(flat=True, unicode=False, color=False)
    top = "\n".join(text.strip().splitlines()[:lines])
    return result, f"```\n{top}\n```"
