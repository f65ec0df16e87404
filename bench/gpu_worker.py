"""End to end through the gpu-sdxl worker process: a `generation.dispatched` event in, a PNG
in S3 out, with the service as it runs (`python -m atelier.gpu_sdxl`) on a private NATS and
S3 of its own.

- On a CUDA GPU: the FULL SDXL base 1.0 architecture with random weights
  (`bench.gpu_sdxl.build_full_sdxl`), saved in BENCH_DTYPE to a temporary folder the service
  loads (SDXL_MODEL); 1024x1024, 30 steps, guidance 7.5.
- Without a GPU: the tiny offline model at 64x64, 4 steps: the code path only.

Timed: the process from start to ready (loading the model, warming up 1024x1024 at batch 1
and 6), one job alone (publish to `generation.completed`, its PNG read back from S3), then six
users' jobs published at once, which the worker batches (BATCH_WINDOW_MS=100): their images
per second against one job alone. /metrics says what the worker really loaded.

    python -m bench.gpu_worker
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from atelier.contracts import examples, storage, subjects
from atelier.contracts.generation import OUTCOMES, GenerationCompleted
from atelier.contracts.registry import decode_event
from atelier.runtime.bus import EventBus, connect, ensure_streams
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings
from bench import Report, run_alone
from bench._common import Settings, quiet_libraries, table
from bench._workload import seconds_left

TITLE = "SDXL end to end through the worker process (gpu-sdxl)"
#: Jobs published at once for the batched round (one image each, one user each).
BATCH = 6


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _model(settings: Settings, folder: Path) -> tuple[Path, int, int]:
    """The model folder the service loads, and the size and steps of the jobs."""
    if not settings.on_gpu:
        from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl

        return build_tiny_sdxl(folder / "tiny-sdxl"), 64, 4
    import torch

    from atelier.inference.device import placement
    from bench.gpu_sdxl import build_full_sdxl

    device, dtype = placement("cuda", settings.dtype)
    pipe = build_full_sdxl(device, dtype)
    pipe.save_pretrained(folder / "sdxl", safe_serialization=True)
    del pipe
    torch.cuda.empty_cache()
    return folder / "sdxl", 1024, 30


@contextmanager
def _servers(folder: Path):
    from atelier.stack.servers.nats import EmbeddedNats
    from atelier.stack.servers.s3 import EmbeddedS3

    nats, s3 = EmbeddedNats(folder), EmbeddedS3(folder)
    nats.start()
    try:
        s3.start()
        try:
            yield {
                "NATS_URL": nats.url,
                "S3_ENDPOINT_URL": s3.url,
                "S3_ACCESS_KEY_ID": s3.access_key,
                "S3_SECRET_ACCESS_KEY": s3.secret_key,
                "S3_REGION": s3.region,
            }
        finally:
            s3.stop()
    finally:
        nats.stop()


def _worker_env(settings: Settings, model: Path, size: int, steps: int, port: int) -> dict:
    warm = [{"width": size, "height": size, "steps": steps, "guidance_scale": 7.5}]
    if settings.on_gpu:
        warm.append(warm[0] | {"images": BATCH})
    return {
        "SDXL_MODEL": str(model),
        "DEVICE": settings.device,
        "DTYPE": settings.dtype,
        "HEALTH_PORT": str(port),
        "WARMUP": json.dumps(warm),
        "BATCH_WINDOW_MS": "100",
        "MAX_BATCH_IMAGES": str(BATCH),
        "HF_HUB_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def _worker(env: dict, log: Path):
    """`python -m atelier.gpu_sdxl` with `env`, its output in `log`; SIGTERM at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "atelier.gpu_sdxl"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        except BaseException as error:
            output.flush()
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{error!r}; the worker's log ends:\n{tail}") from error
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


async def _ready(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)
    raise TimeoutError(f"the worker was not ready within {timeout:.0f} s")


class Outcomes:
    """The jobs' outcomes as the worker appends them (core NATS sees JetStream's traffic)."""

    def __init__(self) -> None:
        self.waiting: dict[uuid.UUID, asyncio.Future] = {}

    async def subscribe(self, nc) -> None:
        for outcome in OUTCOMES:
            subject = subjects.generation_events(outcome.name, model="sdxl")
            await nc.subscribe(subject, cb=self._arrived)

    async def _arrived(self, msg) -> None:
        event = decode_event(msg.subject, msg.data)
        future = self.waiting.get(event.data.job_id)
        if future is not None and not future.done():
            future.set_result(event)

    def expect(self, request) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request.data.job_id] = future
        return future


async def _completed(future: asyncio.Future, timeout: float = 600) -> GenerationCompleted:
    event = await asyncio.wait_for(future, timeout)
    if not isinstance(event, GenerationCompleted):
        raise RuntimeError(f"the job ended {event.type}: {event.data}")
    return event


def _request(size: int, steps: int, seed: int):
    return examples.requested(
        uuid.uuid4(),
        prompt=f"a lighthouse on a cliff at dusk, number {seed}",
        num_images=1,
        seed=seed,
        width=size,
        height=size,
        steps=steps,
        guidance_scale=7.5,
    )


async def _measure(
    env: dict,
    process: subprocess.Popen,
    started: float,
    settings: Settings,
    size: int,
    steps: int,
    port: int,
) -> str:
    """`started`: when the process was started (perf_counter)."""
    runtime = RuntimeSettings(**{key.lower(): value for key, value in env.items()})
    nc = await connect(env["NATS_URL"], name="bench")
    outcomes = Outcomes()
    await outcomes.subscribe(nc)
    bus = EventBus(nc)
    try:
        async with ObjectStore(runtime) as objects:
            await _ready(port, process, timeout=900 if settings.on_gpu else 300)
            ready = time.perf_counter() - started
            alone: list[float] = []
            rendering: list[float] = []
            png = ""
            for seed in range(3):  # the first one warms the path through NATS and S3
                request = _request(size, steps, seed)
                done = outcomes.expect(request)
                sent = time.perf_counter()
                await bus.publish(examples.dispatched(request))
                completed = await _completed(done)
                alone.append(time.perf_counter() - sent)
                rendering.append(completed.data.inference_seconds)
                key = completed.data.assets[0].storage_key
                data = await objects.get(storage.WORKSPACE_BUCKET, key)
                with Image.open(io.BytesIO(data)) as image:
                    png = f"{image.format} {image.width}x{image.height}, {len(data) / 1024:.0f} KiB"
            requests = [_request(size, steps, 100 + i) for i in range(BATCH)]
            done_all = [outcomes.expect(request) for request in requests]
            sent = time.perf_counter()
            for request in requests:
                await bus.publish(examples.dispatched(request))
            batched = [await _completed(done) for done in done_all]
            together = time.perf_counter() - sent
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await nc.close()
    one, render = statistics.median(alone[1:]), statistics.median(rendering[1:])
    render_batched = max(event.data.inference_seconds for event in batched)
    info = re.search(r"atelier_gpu_worker_info\{([^}]*)\}", metrics)
    jobs = re.search(r'atelier_generation_call_jobs_sum\{model="sdxl"\} (\S+)', metrics)
    calls = re.search(r'atelier_generation_call_jobs_count\{model="sdxl"\} (\S+)', metrics)
    rows = [
        ["process start to ready (load, warm-up)", f"{ready:.1f} s", "", ""],
        [
            "one job alone: published to completed",
            f"{one:.3f} s",
            f"{render:.3f} s",
            f"{1 / one:.2f} images/s",
        ],
        [
            f"{BATCH} users' jobs at once (batched)",
            f"{together:.3f} s",
            f"{render_batched:.3f} s (longest)",
            f"{BATCH / together:.2f} images/s ({one * BATCH / together:.2f}x one alone)",
        ],
    ]
    where = "the full SDXL architecture, random weights" if settings.on_gpu else "the tiny model"
    lines = [
        f"{where}, {size}x{size}, {steps} steps, guidance 7.5, one image per job "
        f"({'GPU' if settings.on_gpu else '**CPU: the code path only, not GPU speed**'}).",
        "",
        table(["", "time", "of which rendering (inference_seconds)", "throughput"], rows),
        "",
        f"- output: {png}, read back from S3",
        f"- the worker reports: `{info.group(1) if info else 'no atelier_gpu_worker_info'}`",
        f"- pipeline calls: {float(jobs.group(1)):.0f} jobs in {float(calls.group(1)):.0f} calls"
        if jobs and calls
        else "- pipeline calls: n/a",
    ]
    return "\n".join(lines)


async def _prepare(env: dict) -> None:
    """The streams and the workspace bucket, as provisioning makes them."""
    nc = await connect(env["NATS_URL"], name="bench-provision")
    try:
        await ensure_streams(nc)
    finally:
        await nc.close()
    runtime = RuntimeSettings(**{key.lower(): value for key, value in env.items()})
    async with ObjectStore(runtime) as objects:
        await objects.ensure_bucket(storage.WORKSPACE_BUCKET)


def main(report: Report) -> None:
    """A job in, a PNG out, through the worker process."""
    quiet_libraries()
    settings = Settings.from_env()
    if seconds_left() < (120 if settings.on_gpu else 30):
        report.add(TITLE, f"skipped: {max(0.0, seconds_left()):.0f} s of the time budget left")
        return
    with tempfile.TemporaryDirectory(prefix="atelier-bench-worker-") as tmp:
        folder = Path(tmp)
        model, size, steps = _model(settings, folder)
        with _servers(folder / "servers") as servers:
            asyncio.run(_prepare(servers))
            port = _free_port()
            env = servers | _worker_env(settings, model, size, steps, port)
            started = time.perf_counter()
            with _worker(env, folder / "worker.log") as process:
                measure = _measure(env, process, started, settings, size, steps, port)
                body = asyncio.run(measure)
    report.add(TITLE, body)


if __name__ == "__main__":
    run_alone("gpu_worker", main)
