"""Warm start: the service renders its preset shapes before it takes a job, and /readyz says
what it is warming until then."""

import asyncio
import socket
import threading

import httpx
import pytest

from atelier.contracts import examples, subjects
from atelier.contracts.generation import OUTCOMES, GenerationCompleted
from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl
from atelier.inference.service import serve
from atelier.runtime.aggregates import read_last_event
from atelier.runtime.bus import EventBus

pytestmark = pytest.mark.integration


class Gated:
    """The real renderer, holding warm-up calls until the test opens the gate."""

    model = "sdxl"
    native_volume = SdxlRenderer.native_volume

    def __init__(self, renderer: SdxlRenderer) -> None:
        self.renderer = renderer
        self.pipeline = renderer.pipeline
        self.gate = threading.Event()
        self.warmed: list[tuple[int, int]] = []

    def batch_key(self, spec):
        return self.renderer.batch_key(spec)

    def render_batch(self, jobs):
        if jobs[0].spec.prompt.startswith("warm-up"):
            assert self.gate.wait(60)
            self.warmed.append((jobs[0].spec.width, jobs[0].spec.steps))
        return self.renderer.render_batch(jobs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def readiness(port: int) -> tuple[int, dict]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"http://127.0.0.1:{port}/readyz")
    return response.status_code, response.json()["checks"]


async def test_the_service_warms_its_presets_before_it_is_ready_or_takes_a_job(
    tmp_path, servers, private_nats, private_nc
):
    model = build_tiny_sdxl(tmp_path / "tiny-sdxl")
    renderer = Gated(SdxlRenderer(SdxlPipeline.load(str(model), device="cpu")))
    port = free_port()
    env = {k.lower(): v for k, v in servers.as_env().items()} | {"nats_url": private_nats.url}
    settings = SdxlSettings(
        **env,
        SDXL_MODEL=str(model),
        SDXL_DEFAULT_SIZE=64,
        health_port=port,
        batch_window_ms=0,
    )
    assert [(s.width, s.steps) for s in settings.preset_shapes()] == [(64, 15), (64, 25)]
    bus = EventBus(private_nc)
    request = examples.requested(num_images=1, steps=2)
    await bus.publish(examples.dispatched(request))
    stop = asyncio.Event()
    service = asyncio.create_task(serve(settings, renderer, stop))
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    status, checks = await readiness(port)
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
                    continue
                if "warm-up" in checks:
                    break
                await asyncio.sleep(0.1)
        assert status == 503
        assert "warming sdxl 64x64 15 steps (1 of 2)" in checks["warm-up"]
        await asyncio.sleep(1.0)
        history = subjects.generation_history(request.user_id, request.data.job_id)
        assert (await read_last_event(bus, history)).event.type == "generation.dispatched"

        renderer.gate.set()
        async with asyncio.timeout(120):
            while (await readiness(port))[0] != 200:
                await asyncio.sleep(0.1)
            while not isinstance((last := (await read_last_event(bus, history)).event), OUTCOMES):
                await asyncio.sleep(0.1)
        assert renderer.warmed == [(64, 15), (64, 25)]
        assert isinstance(last, GenerationCompleted)
        assert (await readiness(port))[1]["warm-up"] == "ok"
    finally:
        renderer.gate.set()
        stop.set()
        await service
