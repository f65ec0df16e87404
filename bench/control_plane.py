"""Control plane: generation submits through the real gateway process (JWT verify,
validation, the per-user limit counters, JetStream publish with ack), at 1, 10 and 100
concurrent clients, then at a fixed 500 requests a second. Baseline in the same run: the
raw nats-py publish of the same events (awaiting each ack) at the same concurrency.

The load comes from this process (aiohttp, many users' tokens) on the same machine, so
the client's CPU is part of what limits the figures. No GPU worker runs.

    BENCH_SECONDS     seconds per load level (default 8)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from atelier.contracts import examples
from atelier.contracts.registry import encode_event
from atelier.platform.local import Platform
from atelier.runtime.bus import connect
from bench import Record, Report, run_alone
from bench._platform import (
    env_int,
    median,
    ms,
    on_platform,
    percentile,
    quick,
    spy,
)

LEVELS = (1, 10, 100)
FIXED_RATE = 500  # requests/s for the latency target
TARGET_RATE, TARGET_P99 = 2000, 0.020
USERS = 200
CLOSING = (
    "What would close it: one gateway process uses one core, and each submit costs an HTTP "
    "request through FastAPI's middleware (OpenTelemetry, metrics, problem handlers), a "
    "JWT check and three JetStream round trips in a row (two limit counters, then the "
    "publish). More gateway processes (uvicorn workers or replicas: the limits are "
    "JetStream counters, so they hold across them) and the two counters incremented "
    "concurrently would raise it; here the load generator and every server share the same "
    "2 cores with other work."
)
BODY = {"model": "sdxl", "mode": "image", "quality": "fast", "prompt": "a lighthouse at dusk"}

Send = Callable[[int], Awaitable[None]]


@dataclass
class Load:
    label: str
    seconds: float
    latencies: list[float]
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    async def request(self, send: Send, n: int, since: float) -> None:
        """Request `n`, counted as an error or as its latency from `since` (when it started,
        or when it was due)."""
        try:
            await send(n)
        except Exception:
            self.errors += 1
        else:
            self.latencies.append(time.perf_counter() - since)

    def row(self) -> str:
        lat = self.latencies
        return (
            f"| {self.label} | {len(lat)} | {self.rate:,.0f} | {ms(median(lat))} | "
            f"{ms(percentile(lat, 99))} | {self.errors} |"
        )


async def closed_loop(label: str, send: Send, clients: int, seconds: float) -> Load:
    """`clients` each sending one request after the other for `seconds`."""
    load = Load(label, seconds, [])
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        n = index
        while time.perf_counter() < deadline:
            await load.request(send, n, time.perf_counter())
            n += clients

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


async def open_loop(label: str, send: Send, rate: int, seconds: float) -> Load:
    """Requests started at a fixed `rate` whatever the answers do; latency counts from
    the moment each was due (no coordinated omission)."""
    load = Load(label, seconds, [])
    start = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(load.request(send, n, due)))
    await asyncio.gather(*tasks)
    return load


async def _bench(report: Report, platform: Platform) -> None:
    seconds = env_int("BENCH_SECONDS", 3 if quick() else 8)
    tokens = [platform.token(uuid.uuid4()) for _ in range(USERS)]
    url = f"{platform.gateway_url}/v1/generations"
    nc = await connect(platform.settings().nats_url, name="bench-raw-publish")
    js = nc.jetstream()
    connector = aiohttp.TCPConnector(limit=max(LEVELS) + 50)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def submit(n: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[n % USERS]}"}
            async with http.post(url, json=BODY, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(response.status)

        # Made beforehand (the baseline is the publish alone); a fresh message id each time.
        events = [examples.requested() for _ in range(5000)]
        messages = [(event.subject, encode_event(event)) for event in events]

        async def publish(n: int) -> None:
            subject, payload = messages[n % len(messages)]
            await js.publish(subject, payload, headers={"Nats-Msg-Id": f"bench-{n}"})

        for n in range(20):  # warm up connections and caches
            await submit(n)
        gateway, raw = [], []
        for clients in LEVELS:
            gateway.append(
                await closed_loop(f"gateway, {clients} clients", submit, clients, seconds)
            )
            raw.append(
                await closed_loop(f"raw js.publish, {clients} clients", publish, clients, seconds)
            )
        fixed = await open_loop(f"gateway at {FIXED_RATE} req/s", submit, FIXED_RATE, seconds)
        profile = ""
        best = max(gateway, key=lambda load: load.rate)
        if best.rate < TARGET_RATE:
            pid = platform.services["gateway"].pid
            load = asyncio.create_task(closed_loop("profiled", submit, max(LEVELS), seconds))
            profile = await asyncio.to_thread(spy, pid, seconds - 1)
            await load
    await nc.close()
    report.add("Control plane: generation submits", _render(gateway, raw, fixed, best, profile))
    raw_best = raw[gateway.index(best)]
    report.record(
        Record(
            "submits_per_s",
            round(best.rate, 1),
            "req/s",
            target=TARGET_RATE,
            met=best.rate >= TARGET_RATE,
            baseline=round(raw_best.rate, 1),
            baseline_name=raw_best.label,
        )
    )
    p99 = percentile(fixed.latencies, 99)
    report.record(
        Record(
            f"submit_p99_ms_at_{FIXED_RATE}",
            round(p99 * 1000, 2),
            "ms",
            target=TARGET_P99 * 1000,
            met=p99 < TARGET_P99 and fixed.rate >= FIXED_RATE * 0.95,
        )
    )


def _render(gateway, raw, fixed: Load, best: Load, profile: str) -> str:
    lines = [
        "| load | requests | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        *(load.row() for pair in zip(gateway, raw, strict=True) for load in pair),
        fixed.row(),
        "",
    ]
    for g, r in zip(gateway, raw, strict=True):
        lines.append(f"- {g.label}: {g.rate / r.rate:.2f}x the raw publish rate")
    rate_met = "met" if best.rate >= TARGET_RATE else "MISSED"
    p99 = percentile(fixed.latencies, 99)
    p99_met = "met" if p99 < TARGET_P99 and fixed.rate >= FIXED_RATE * 0.95 else "MISSED"
    lines += [
        f"- target ≥ {TARGET_RATE:,} req/s: **{rate_met}** "
        f"(best {best.rate:,.0f} req/s, {best.label})",
        f"- target p99 < {TARGET_P99 * 1000:.0f} ms at {FIXED_RATE} req/s: **{p99_met}** "
        f"(p99 {ms(p99)} ms, achieved {fixed.rate:,.0f} req/s)",
    ]
    if profile:
        lines += ["", f"The gateway process under {max(LEVELS)} clients (py-spy):", "", profile]
        lines += ["", CLOSING]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Generation submits per second through the gateway against raw JetStream publishes."""
    on_platform(_bench, report)


if __name__ == "__main__":
    run_alone("control_plane", main)
