"""Event to screen: a `generation.completed` published (as a GPU worker does, real
contract, acked by JetStream) until the workspace row is visible in PostgreSQL, and until
the user's open `GET /v1/events` stream (Server-Sent Events through the gateway) delivers
it. One completion at a time, every service as a process, no GPU worker.

Baseline in the same run: the same publish and the same stream, but the frame read by a
plain JetStream subscriber on the user's subject (what the log alone costs).

    BENCH_COMPLETIONS   completions timed (default 200)
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import asyncpg

from atelier.contracts import examples, subjects
from atelier.platform.local import Platform
from atelier.runtime.bus import EventBus, connect
from bench import Record, Report, run_alone
from bench._platform import env_int, median, ms, on_platform, percentile, quick

TARGET_P50 = 0.020


async def _sse_frames(http: aiohttp.ClientSession, url: str, token: str, found: dict) -> None:
    """Read the stream; note when each `generation.completed` frame arrives, by job."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as r:
        kind = None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "generation.completed":
                for job, waiter in list(found.items()):
                    if job in line and not waiter.done():
                        waiter.set_result(time.perf_counter())


async def _row_visible(pool: asyncpg.Pool, job_id: uuid.UUID) -> float:
    query = "SELECT 1 FROM workspace.workspace_assets WHERE job_id = $1 LIMIT 1"
    while True:
        if await pool.fetchval(query, job_id):
            return time.perf_counter()
        await asyncio.sleep(0.0005)


async def _bench(report: Report, platform: Platform) -> None:
    count = env_int("BENCH_COMPLETIONS", 30 if quick() else 200)
    user = uuid.uuid4()
    settings = platform.settings()
    bus = EventBus(await connect(settings.nats_url, name="bench-gpu"))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    rows, frames, log_only = [], [], []
    raw = {}

    async def on_raw(msg) -> None:
        for job, waiter in list(raw.items()):
            if job in msg.subject and not waiter.done():
                waiter.set_result(time.perf_counter())

    await bus.nc.subscribe(subjects.user_events(user), cb=on_raw)
    waiting: dict[str, asyncio.Future] = {}
    async with aiohttp.ClientSession() as http:
        reader = asyncio.create_task(
            _sse_frames(http, f"{platform.gateway_url}/v1/events", platform.token(user), waiting)
        )
        await asyncio.sleep(1.0)  # the stream is open and following the log
        for _ in range(count):
            completed = examples.completed(user, num_images=2)
            job = str(completed.data.job_id)
            loop = asyncio.get_running_loop()
            waiting[job], raw[job] = loop.create_future(), loop.create_future()
            started = time.perf_counter()
            await bus.publish(completed)
            row = await _row_visible(pool, completed.data.job_id)
            async with asyncio.timeout(30):
                frame, seen = await waiting[job], await raw[job]
            del waiting[job], raw[job]
            rows.append(row - started)
            frames.append(frame - started)
            log_only.append(seen - started)
            await asyncio.sleep(0.02)
        reader.cancel()
    await pool.close()
    await bus.nc.close()
    report.add("Event to screen", _render(count, rows, frames, log_only))
    report.record(
        Record(
            "event_to_screen_p50_ms",
            round(median(frames) * 1000, 2),
            "ms",
            target=TARGET_P50 * 1000,
            met=median(frames) < TARGET_P50,
            baseline=round(median(log_only) * 1000, 2),
            baseline_name="the message at a plain NATS subscriber",
        )
    )


def _render(count: int, rows, frames, log_only) -> str:
    lines = [
        f"{count} `generation.completed` events (2 images each), one at a time.",
        "",
        "| from publish (with its ack) to | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    for label, values in (
        ("workspace row visible (polled every 0.5 ms)", rows),
        ("SSE frame delivered by the gateway", frames),
        ("baseline: the message at a plain NATS subscriber", log_only),
    ):
        lines.append(
            f"| {label} | {ms(median(values))} | {ms(percentile(values, 99))} | {ms(max(values))} |"
        )
    met = "met" if median(frames) < TARGET_P50 else "MISSED"
    lines += ["", f"- target p50 < {TARGET_P50 * 1000:.0f} ms to the screen: **{met}**"]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Latency from a published completion to the workspace row and the SSE frame."""
    on_platform(_bench, report)


if __name__ == "__main__":
    run_alone("event_to_screen", main)
