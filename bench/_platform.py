"""Helpers of the platform benchmarks (projections, gateway, listing): private embedded
servers, publishing a log fast, percentiles and the knobs they read."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil
from nats.js.client import JetStreamContext

from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import encode_event
from atelier.contracts.streams import EVENTS
from atelier.library.projection import LibraryProjection
from atelier.platform.local import Platform
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
    return [("workspace", WorkspaceProjection()), ("library", LibraryProjection())]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"atelier-bench-{prefix}-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def nats_and_postgres(data_dir: Path) -> Iterator[tuple[EmbeddedNats, EmbeddedPostgres]]:
    """A private nats-server and PostgreSQL (no S3), started."""
    nats, postgres = EmbeddedNats(data_dir), EmbeddedPostgres(data_dir)
    nats.start()
    try:
        postgres.start()
        try:
            yield nats, postgres
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


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a server process and all its children have used so far,
    those that have exited included (PostgreSQL runs a process per connection)."""
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


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
    text = profiler.output_text(flat=True, unicode=False, color=False).strip().splitlines()
    # Past pyinstrument's banner: its duration and CPU time, then the functions.
    totals = next((line[line.index("Duration:") :] for line in text if "Duration:" in line), "")
    start = next((i + 1 for i, line in enumerate(text) if line.startswith("Profile at")), 0)
    body = [line for line in text[start:] if line.strip()][:lines]
    top = "\n".join([f"{totals} (below: seconds of self time, awaits included)", *body])
    return result, f"```\n{top}\n```"


#: Limits far above what a benchmark submits: the counters still count (as in production),
#: nothing is refused.
UNLIMITED = {"MAX_ACTIVE_JOBS_PER_USER": "100000000", "SUBMITS_PER_MINUTE_PER_USER": "100000000"}


@contextlib.contextmanager
def running_platform(
    data_dir: Path, service_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """Every service as a process on private embedded servers, but no GPU worker: the
    benchmarks publish outcomes themselves, and a worker would render each submit."""
    with Platform(data_dir, os.environ, service_env={**UNLIMITED, **(service_env or {})}) as p:
        for name in ("gpu-sdxl", "gpu-wan"):
            p.services[name].stop()
        yield p


def spy(pid: int, seconds: float, lines: int = 15) -> str:
    """Sample a running process with py-spy (without pausing it) for `seconds`; the
    functions where it spent its CPU time (self and with callees), as a markdown block."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        done = subprocess.run(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
             "--duration", str(max(1, round(seconds))), "--format", "raw", "--nonblocking",
             "--output", str(out)],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        if done.returncode != 0 or not out.exists():
            return f"(py-spy could not sample: {done.stderr.strip()[-300:]})"
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]]
            if not frames:
                continue
            total += int(count)
            own[frames[-1]] += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
    top = [f"{total} samples; self time:"]
    top += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(lines)]
    top += ["", "with callees (the event loop and server plumbing left out):"]
    plumbing = ("asyncio/", "threading", "selectors", "<frozen", "runpy", "uvicorn/main",
                "uvicorn/server", "uvicorn/_compat", "<module>", "main (")  # fmt: skip
    picked = [(f, n) for f, n in inclusive.most_common() if not any(p in f for p in plumbing)]
    top += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in picked[:lines]]
    return "```\n" + "\n".join(top) + "\n```"


def on_platform(
    bench: Callable[[Any, Platform], Awaitable[None]],
    report: Any,
    service_env: dict[str, str] | None = None,
) -> None:
    """Run the coroutine `bench(report, platform)` on a platform of its own (its services
    with `service_env` besides)."""
    name = bench.__module__.rsplit(".", 1)[-1]
    with scratch_dir(name) as data, running_platform(data, service_env) as platform:
        asyncio.run(bench(report, platform))
