"""What SREs read: /healthz, /readyz and /metrics on every service, with the job, queue,
consumer and projection figures moving as a generation goes through."""

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atelier.workspace.projection import WorkspaceProjection
from tests.helpers import client, eventually, job_assets

pytestmark = pytest.mark.e2e


async def samples(url: str) -> dict[tuple[str, frozenset], float]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).raise_for_status().text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


async def test_every_service_is_probed_and_measured(platform):
    async with httpx.AsyncClient(timeout=10) as http:
        for name, service in platform.services.items():
            assert (await http.get(f"{service.url}/healthz")).status_code == 200, name
            ready = await http.get(f"{service.url}/readyz")
            assert ready.status_code == 200, (name, ready.text)

    async with client(platform, uuid.uuid4()) as api:
        job = (
            await api.post(
                "/v1/generations",
                json={"model": "sdxl", "prompt": "x", "width": 64, "height": 64, "steps": 2},
            )
        ).json()["job_id"]
        await job_assets(api, job, 1)

    gateway = await samples(platform.gateway_url)
    assert gateway[key("atelier_http_requests_total", method="POST", route="/v1/generations",
                       status="202")] >= 1  # fmt: skip

    gpu = platform.services["gpu-sdxl"].url
    gpu_samples = await samples(gpu)
    assert gpu_samples[key("atelier_generation_jobs_total", model="sdxl", outcome="completed")] >= 1
    assert gpu_samples[key("atelier_generation_seconds_count", model="sdxl", quality="fast")] >= 1

    async def queue_observed():
        found = await samples(gpu)
        return key("atelier_queue_depth", model="sdxl") in found

    await eventually(queue_observed, timeout=15)
    workspace = await samples(platform.services["workspace"].url)
    assert (
        "atelier_projection_lag",
        frozenset({"projection": WorkspaceProjection.name}.items()),
    ) in workspace

    async def reactors_observed():
        found = await samples(platform.services["library"].url)
        return (
            "atelier_consumer_pending",
            frozenset({"consumer": "library-reactors"}.items()),
        ) in found

    await eventually(reactors_observed, timeout=15)
