"""The worker against real NATS and S3 with the real tiny SDXL pipeline: a transient
failure is retried and completes once; a persistent one ends as `generation.failed`;
a reference that is gone fails at once with the reason."""

import asyncio
import uuid

import pytest

from atelier.contracts import examples, storage, subjects
from atelier.contracts.generation import (
    OUTCOMES,
    GenerationCompleted,
    GenerationFailed,
    ImageRef,
    Reference,
)
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.contracts.streams import EVENTS
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.inference.worker import GenerationWorker, RenderJob, consumer_config
from atelier.runtime.aggregates import read_last_event
from atelier.runtime.bus import EventBus, ensure_streams
from atelier.runtime.consumer import WorkConsumer, ensure_consumer
from atelier.runtime.objects import ObjectStore

pytestmark = pytest.mark.integration


class FailingFirst:
    """The real renderer, made to fail its first `failures` calls (a passing hiccup; a CUDA
    error, which breaks the process's context, ends the process instead: see
    test_batching.py)."""

    model = "sdxl"
    native_volume = SdxlRenderer.native_volume

    def __init__(self, renderer: SdxlRenderer, failures: int) -> None:
        self.renderer = renderer
        self.pipeline = renderer.pipeline
        self.failures = failures
        self.calls = 0

    def batch_key(self, spec):
        return self.renderer.batch_key(spec)

    def render_batch(self, jobs: list[RenderJob]):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("the scheduler hiccuped: a transient failure")
        return self.renderer.render_batch(jobs)


async def run_job(private_nc, objects, renderer, request, *, max_attempts: int = 3):
    bus = EventBus(private_nc)
    await ensure_streams(private_nc)
    config = consumer_config("sdxl", ack_wait=10)
    await ensure_consumer(bus.js, EVENTS.name, config)
    worker = GenerationWorker(
        bus=bus, objects=objects, renderer=renderer, worker_id="test", max_attempts=max_attempts
    )
    consumer = WorkConsumer(
        js=bus.js, stream=EVENTS.name, durable=config.durable_name, handle=worker.handle
    )
    consumer.backoff = (0.1,)
    await bus.publish(examples.dispatched(request))
    history = subjects.generation_history(request.user_id, request.data.job_id)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(90):
            while not isinstance((last := (await read_last_event(bus, history)).event), OUTCOMES):
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    return last


async def test_a_transient_failure_is_retried_and_completes_once(private_nc, objects, renderer):
    flaky = FailingFirst(renderer, failures=1)
    request = examples.requested(num_images=2, steps=2)
    ended = await run_job(private_nc, objects, flaky, request)
    assert isinstance(ended, GenerationCompleted)
    assert flaky.calls == 2
    for asset in ended.data.assets:
        assert await objects.exists(WORKSPACE_BUCKET, asset.storage_key)


async def test_a_persistent_failure_ends_as_failed_after_the_last_attempt(
    private_nc, objects, renderer
):
    broken = FailingFirst(renderer, failures=99)
    ended = await run_job(private_nc, objects, broken, examples.requested(steps=2), max_attempts=2)
    assert isinstance(ended, GenerationFailed)
    assert (ended.data.code, broken.calls) == ("retries_exhausted", 2)
    assert "transient failure" in ended.data.reason


class ThumbnailsFail:
    """The real store, except that thumbnails cannot be written: S3 failing mid-job, after
    the image itself was uploaded."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        if key.endswith(".thumb.webp"):
            raise ConnectionError("S3 timed out")
        await self.store.put(bucket, key, data, content_type)


async def test_a_job_failing_after_a_partial_upload_leaves_no_files(private_nc, objects, renderer):
    request = examples.requested(steps=2)
    prefix = storage.job_prefix(request.user_id, request.data.job_id)
    ended = await run_job(private_nc, ThumbnailsFail(objects), renderer, request, max_attempts=2)
    assert isinstance(ended, GenerationFailed)
    assert ended.data.code == "retries_exhausted"
    assert await objects.delete_prefix(WORKSPACE_BUCKET, prefix) == 0


async def test_a_missing_reference_fails_at_once_with_the_reason(private_nc, objects, renderer):
    user = uuid.uuid4()
    gone = ImageRef(bucket=WORKSPACE_BUCKET, key=f"{user}/uploads/{uuid.uuid4()}.png")
    request = examples.requested(
        user,
        reference=Reference(image=gone, mode="modify", strength=0.5),
        steps=20,
        guidance_scale=5.0,
    )
    flaky = FailingFirst(renderer, failures=0)
    ended = await run_job(private_nc, objects, flaky, request)
    assert isinstance(ended, GenerationFailed)
    assert ended.data.code == "bad_request"
    assert gone.key in ended.data.reason
    assert flaky.calls == 0, "a bad request must not reach the model"
