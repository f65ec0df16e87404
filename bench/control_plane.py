"""Control plane: generation submits through the real gateway process (JWT verify,
validation, the per-user limit counters, JetStream publish with ack), at 1, 10 and 100
concurrent clients, then at a fixed 500 requests a second; then the same through two
gateway processes sharing the address (SO_REUSEPORT). Baseline in the same run: the raw
nats-py publish of the same events (awaiting each ack) at the same concurrency.

The load comes from this process (aiohttp, many users' tokens) on the same machine, so
the client's CPU is part of what limits the figures. No GPU worker runs.

    BENCH_SECONDS     seconds per load level (default 8)
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import psutil

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
#: Many users, so that each one's set of active jobs stays as small as the caps keep it in
#: production (no worker ends the jobs here, and the caps are lifted).
USERS = 5000
CLOSING = (
    "Where the time goes: the CPU lines above. Each submit costs the gateway an HTTP request "
    "through FastAPI (validation, OpenTelemetry, metrics), a token check (remembered after "
    "the first request of a token) and three JetStream "
    "round trips (the minute counter and the active-jobs read at once, the compare-and-set, "
    "the publish), and costs nats-server a counter, a KV write and a stream append on disk. "
    "On these 2 cores the load generator, nats-server and the gateway processes share the "
    "same CPUs, so a second process adds throughput only while a core has time left. What "
    "would close it: cores for the gateway processes (they scale out: the limits live in "
    "JetStream), and a load generator on another machine."
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
    http = _session()
    try:

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
        one = [
            await closed_loop(f"gateway, {clients} clients", submit, clients, seconds)
            for clients in LEVELS
        ]
        fixed = [await open_loop(f"gateway at {FIXED_RATE} req/s", submit, FIXED_RATE, seconds)]
        # A second process on the shared address (SO_REUSEPORT), as `make up REPLICAS=2`.
        second = platform.gateway_process("gateway-bench-2")
        await asyncio.to_thread(second.start)
        await http.close()  # new connections, spread over both processes by the kernel
        http = _session()
        try:
            for n in range(20):
                await submit(n)
            label = f"gateway ×2 processes, {max(LEVELS)} clients"
            pids = {"gateway": platform.services["gateway"].pid, "gateway 2": second.pid}
            pids |= {"nats-server": _nats_pid(platform), "load generator": os.getpid()}
            cpu = CpuShares(pids)
            two = await closed_loop(label, submit, max(LEVELS), seconds)
            shares = cpu.stop()
            fixed.append(
                await open_loop(
                    f"gateway ×2 processes at {FIXED_RATE} req/s", submit, FIXED_RATE, seconds
                )
            )
            profile = ""
            if two.rate < TARGET_RATE:
                load = asyncio.create_task(closed_loop("profiled", submit, max(LEVELS), seconds))
                profile = await asyncio.to_thread(spy, second.pid, seconds - 1)
                await load
        finally:
            await asyncio.to_thread(second.stop)
        # Last: the services would still be reading its flood of events during the others.
        raw = [
            await closed_loop(f"raw js.publish, {clients} clients", publish, clients, seconds)
            for clients in LEVELS
        ]
    finally:
        await http.close()
    await nc.close()
    gateway = [*one, two]
    best = max(gateway, key=lambda load: load.rate)
    at_rate = min(fixed, key=lambda load: percentile(load.latencies, 99))
    report.add(
        "Control plane: generation submits",
        _render(one, raw, two, fixed, best, at_rate, shares, profile),
    )
    raw_best = max(raw, key=lambda load: load.rate)
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
    p99 = percentile(at_rate.latencies, 99)
    report.record(
        Record(
            f"submit_p99_ms_at_{FIXED_RATE}",
            round(p99 * 1000, 2),
            "ms",
            target=TARGET_P99 * 1000,
            met=_p99_met(at_rate),
        )
    )


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(LEVELS) + 50))


def _nats_pid(platform: Platform) -> int:
    """The nats-server the platform's gateway talks to (a child of this process)."""
    port = platform.settings().nats_url.rsplit(":", 1)[-1]
    for child in psutil.Process().children(recursive=True):
        if "nats-server" in child.name() and port in " ".join(child.cmdline()):
            return child.pid
    raise RuntimeError("no nats-server child")


class CpuShares:
    """CPU seconds each process spends from now until `stop`, as % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.started = time.perf_counter()
        self.before = {name: _cpu(process) for name, process in self.processes.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.started
        return {
            name: 100 * (_cpu(process) - self.before[name]) / wall
            for name, process in self.processes.items()
        }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _p99_met(load: Load) -> bool:
    return percentile(load.latencies, 99) < TARGET_P99 and load.rate >= FIXED_RATE * 0.95


def _render(one, raw, two: Load, fixed, best: Load, at_rate: Load, shares, profile) -> str:
    lines = [
        "| load | requests | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        *(load.row() for pair in zip(one, raw, strict=True) for load in pair),
        two.row(),
        *(load.row() for load in fixed),
        "",
    ]
    for g, r in zip(one, raw, strict=True):
        lines.append(f"- {g.label}: {g.rate / r.rate:.2f}x the raw publish rate")
    lines.append(f"- {two.label}: {two.rate / one[-1].rate:.2f}x one process")
    lines.append(
        f"- CPU during {two.label} (% of one core; the machine has "
        f"{psutil.cpu_count()}): "
        + ", ".join(f"{name} {share:.0f}%" for name, share in shares.items())
    )
    per_submit = {name: 10 * share / two.rate for name, share in shares.items()}  # ms
    lines.append(
        "- CPU per submit: "
        + ", ".join(f"{name} {ms_:.2f} ms" for name, ms_ in per_submit.items())
        + f"; all of it {sum(per_submit.values()):.2f} ms, so {psutil.cpu_count()} busy cores "
        f"would carry at most {1000 * psutil.cpu_count() / sum(per_submit.values()):,.0f} "
        "submits/s with these parties on them"
    )
    rate_met = "met" if best.rate >= TARGET_RATE else "MISSED"
    p99 = percentile(at_rate.latencies, 99)
    lines += [
        f"- target ≥ {TARGET_RATE:,} req/s: **{rate_met}** "
        f"(best {best.rate:,.0f} req/s, {best.label})",
        f"- target p99 < {TARGET_P99 * 1000:.0f} ms at {FIXED_RATE} req/s: "
        f"**{'met' if _p99_met(at_rate) else 'MISSED'}** "
        f"(p99 {ms(p99)} ms, {at_rate.label}, achieved {at_rate.rate:,.0f} req/s)",
    ]
    if profile:
        lines += ["", f"One of two gateway processes under {max(LEVELS)} clients (py-spy):"]
        lines += ["", profile, "", CLOSING]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Generation submits per second through the gateway against raw JetStream publishes."""
    on_platform(_bench, report)


if __name__ == "__main__":
    run_alone("control_plane", main)
