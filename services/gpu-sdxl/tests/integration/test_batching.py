"""Batching across requests, against real NATS and S3 with the tiny SDXL pipeline: jobs of
different users share a call and each gets its own outcome and files; an out-of-memory call
is split; a job cancelled inside a batch stops there; a failure ends with the job that
caused it; a broken device leaves every job unacknowledged for another process."""

import asyncio
import time
import uuid
from contextlib import asynccontextmanager

import pytest
import torch

from atelier.contracts import examples, subjects
from atelier.contracts.generation import (
    OUTCOMES,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationCancelRequestedData,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    ImageRef,
    Reference,
)
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.contracts.streams import EVENTS
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.inference.faults import FatalDeviceError
from atelier.inference.worker import GenerationWorker, consumer_config
from atelier.runtime.aggregates import read_last_event
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import WorkConsumer, ensure_consumer

pytestmark = pytest.mark.integration


class Spy:
    """The real renderer, recording the prompts of each call, failing as a test says."""

    model = "sdxl"
    native_volume = SdxlRenderer.native_volume

    def __init__(self, renderer: SdxlRenderer, fail=None) -> None:
        self.renderer = renderer
        self.pipeline = renderer.pipeline
        self.fail = fail
        self.calls: list[list[tuple[str, int]]] = []

    def batch_key(self, spec):
        return self.renderer.batch_key(spec)

    def render_batch(self, jobs):
        self.calls.append([(job.spec.prompt, job.image_count) for job in jobs])
        if self.fail is not None:
            self.fail(jobs)
        return self.renderer.render_batch(jobs)


@asynccontextmanager
async def running(private_nc, objects, renderer, *, window=0.3, max_attempts=3):
    """A worker batching within `window` s, fed by its work consumer (six jobs in hand)."""
    bus = EventBus(private_nc)
    config = consumer_config("sdxl", ack_wait=10)
    await ensure_consumer(bus.js, EVENTS.name, config)
    worker = GenerationWorker(
        bus=bus,
        objects=objects,
        renderer=renderer,
        worker_id="test",
        max_attempts=max_attempts,
        batch_window=window,
        max_batch_images=6,
    )
    await worker.watch_cancellations()
    consumer = WorkConsumer(
        js=bus.js,
        stream=EVENTS.name,
        durable=config.durable_name,
        handle=worker.handle,
        heartbeat_seconds=1.0,  # jobs wait in hand for their group: keep them ours
        concurrency=6,
        max_attempts=None,
    )
    consumer.backoff = (0.2,)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def outcome(bus: EventBus, request: GenerationRequested, timeout: float = 120):
    history = subjects.generation_history(request.user_id, request.data.job_id)
    async with asyncio.timeout(timeout):
        while not isinstance((last := (await read_last_event(bus, history)).event), OUTCOMES):
            await asyncio.sleep(0.1)
    return last


async def count(bus: EventBus, request: GenerationRequested, name: str) -> int:
    subject = subjects.generation(request.user_id, "sdxl", request.data.job_id, name)
    info = await bus.js.stream_info(EVENTS.name, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


def job(prompt: str, **spec) -> GenerationRequested:
    """A job of a user of its own."""
    return examples.requested(uuid.uuid4(), prompt=prompt, **({"num_images": 1} | spec))


async def test_jobs_of_different_users_share_a_call_and_each_gets_its_own_outcome(
    private_nc, objects, renderer
):
    bus, spy = EventBus(private_nc), Spy(renderer)
    requests = [
        job("a fox", num_images=2, seed=1),
        job("a lighthouse", seed=500),
        job("a boat", negative_prompt=None, seed=9),
        job("another size", width=128, height=128),
    ]
    for request in requests:
        await bus.publish(examples.dispatched(request))
    async with running(private_nc, objects, spy):
        ended = [await outcome(bus, request) for request in requests]
    assert all(isinstance(event, GenerationCompleted) for event in ended)
    # handlers submit concurrently: within a call, jobs come in any order
    assert [sorted(call) for call in spy.calls] == [
        [("a boat", 1), ("a fox", 2), ("a lighthouse", 1)],
        [("another size", 1)],
    ]
    for request, completed in zip(requests, ended, strict=True):
        assert completed.user_id == request.user_id
        assert [a.seed for a in completed.data.assets] == [
            request.data.spec.seed + i for i in range(request.data.spec.num_images)
        ]
        for asset in completed.data.assets:
            assert asset.storage_key.startswith(f"{request.user_id}/{request.data.job_id}/")
            assert await objects.exists(WORKSPACE_BUCKET, asset.storage_key)
        assert await count(bus, request, "started") == 1
    fox, lighthouse = ended[0].data.assets, ended[1].data.assets
    assert len({a.file_size_bytes for a in (*fox, *lighthouse)}) == 3, "the same image twice?"


async def test_out_of_memory_splits_the_batch_and_a_job_too_big_alone_fails_with_why(
    private_nc, objects, renderer
):
    def out_of_memory(jobs):
        images = sum(j.image_count for j in jobs)
        if images > 2 or any(j.spec.width > 64 for j in jobs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    bus, spy = EventBus(private_nc), Spy(renderer, fail=out_of_memory)
    requests = [job("one", seed=3), job("two", num_images=2), job("three", num_images=2)]
    too_big = job("huge", width=128, height=128, steps=5, num_images=2)
    for request in [*requests, too_big]:
        await bus.publish(examples.dispatched(request))
    async with running(private_nc, objects, spy):
        ended = [await outcome(bus, request) for request in requests]
        failed = await outcome(bus, too_big)
    assert all(isinstance(event, GenerationCompleted) for event in ended)
    assert [len(event.data.assets) for event in ended] == [1, 2, 2]
    assert sorted(spy.calls[0]) == [("one", 1), ("three", 2), ("two", 2)]
    fitted = [call for call in spy.calls[1:] if sum(n for _, n in call) <= 2]
    assert sorted(job for call in fitted for job in call if job[0] != "huge") == [
        ("one", 1), ("three", 2), ("two", 2),
    ]  # fmt: skip
    assert isinstance(failed, GenerationFailed)
    assert failed.data.code == "bad_request"
    assert "out of memory" in failed.data.reason
    assert "128x128, 5 steps" in failed.data.reason
    assert "try a smaller size" in failed.data.reason
    # its two images, then one: out of memory even alone
    assert [call for call in spy.calls if call[0][0] == "huge"] == [[("huge", 2)], [("huge", 1)]]


async def test_a_job_cancelled_inside_a_batch_leaves_it_and_the_others_complete(
    private_nc, objects, renderer
):
    bus, spy = EventBus(private_nc), Spy(renderer)
    rows: list[int] = []

    def step(module, args, kwargs) -> None:
        rows.append((args[0] if args else kwargs["sample"]).shape[0])
        time.sleep(0.05)  # a step as slow as a real one, to see who ends first

    hook = renderer.pipeline._text2img.unet.register_forward_pre_hook(step, with_kwargs=True)
    requests = [job(name, steps=20) for name in ("keep one", "cancel me", "keep two")]
    doomed = requests[1]
    third_step = asyncio.Event()

    async def on_progress(msg) -> None:
        if b'"step":3,' in msg.data:
            third_step.set()

    await private_nc.subscribe(
        subjects.progress(doomed.user_id, doomed.data.job_id), cb=on_progress
    )
    for request in requests:
        await bus.publish(examples.dispatched(request))
    try:
        async with running(private_nc, objects, spy):
            await asyncio.wait_for(third_step.wait(), 120)
            await bus.publish(
                GenerationCancelRequested.create(
                    source="gateway",
                    user_id=doomed.user_id,
                    data=GenerationCancelRequestedData(job_id=doomed.data.job_id, model="sdxl"),
                )
            )
            cancelled = await outcome(bus, doomed)
            steps_by_then = len(rows)
            ended = [await outcome(bus, request) for request in requests]
    finally:
        hook.remove()
    assert ended[1] == cancelled
    assert [sorted(call) for call in spy.calls] == [
        [("cancel me", 1), ("keep one", 1), ("keep two", 1)]
    ]
    assert isinstance(ended[1], GenerationCancelled)
    assert 3 <= ended[1].data.at_step < 20
    assert isinstance(ended[0], GenerationCompleted)
    assert isinstance(ended[2], GenerationCompleted)
    # three images (twice, for guidance) until the cancellation, then two
    assert (rows[0], rows[-1], len(rows)) == (6, 4, 20)
    # its outcome came while the others' steps went on, not when they ended
    assert steps_by_then < 20


async def test_a_job_cancelled_while_it_waits_for_a_call_ends_at_once(
    private_nc, objects, renderer
):
    """A job that cannot share the running call (other steps) waits for it; cancelled
    meanwhile, it ends then, not when the call it waited for is over."""
    bus, spy = EventBus(private_nc), Spy(renderer)
    steps: list[int] = []

    def step(module, args, kwargs) -> None:
        steps.append(1)
        time.sleep(0.05)

    hook = renderer.pipeline._text2img.unet.register_forward_pre_hook(step, with_kwargs=True)
    running_job, waiting_job = job("running", steps=30), job("waiting", steps=5)
    await bus.publish(examples.dispatched(running_job))
    try:
        async with running(private_nc, objects, spy, window=0.0):
            async with asyncio.timeout(60):
                while len(steps) < 3:
                    await asyncio.sleep(0.02)
            await bus.publish(examples.dispatched(waiting_job))
            await asyncio.sleep(0.3)  # in the worker's hands, behind the running call
            await bus.publish(
                GenerationCancelRequested.create(
                    source="gateway",
                    user_id=waiting_job.user_id,
                    data=GenerationCancelRequestedData(
                        job_id=waiting_job.data.job_id, model="sdxl"
                    ),
                )
            )
            cancelled = await outcome(bus, waiting_job)
            steps_by_then = len(steps)
            completed = await outcome(bus, running_job)
    finally:
        hook.remove()
    assert isinstance(cancelled, GenerationCancelled)
    assert cancelled.data.at_step is None
    assert isinstance(completed, GenerationCompleted)
    assert steps_by_then < 30, "it waited for the other job's call"
    assert [call[0][0] for call in spy.calls] == ["running"]


async def test_a_job_cancelled_while_its_call_forms_never_starts(private_nc, objects, renderer):
    """The cancel arrives on the bus just after the worker read the log for one (as its
    call forms): the job ends cancelled, and no `started` comes after that."""
    bus, spy = EventBus(private_nc), Spy(renderer)
    target = job("cancelled as its call forms", steps=5)
    cancel = GenerationCancelRequested.create(
        source="gateway",
        user_id=target.user_id,
        data=GenerationCancelRequestedData(job_id=target.data.job_id, model="sdxl"),
    )
    async with running(private_nc, objects, spy, window=0.0) as worker:
        read_log = worker._on_log
        reads = 0

        async def cancel_after_the_second_read(request, *names):
            nonlocal reads
            found = await read_log(request, *names)
            if names == ("cancel_requested",) and (reads := reads + 1) == 2:  # the call's
                pending = worker.waiting[target.data.job_id]
                await bus.publish(cancel)
                async with asyncio.timeout(10):
                    await asyncio.shield(pending.stopped)
            return found

        worker._on_log = cancel_after_the_second_read
        await bus.publish(examples.dispatched(target))
        ended = await outcome(bus, target)
        await asyncio.sleep(0.5)  # a `started` would be appended by now
        last = await read_last_event(
            bus, subjects.generation_history(target.user_id, target.data.job_id)
        )
    assert reads == 2
    assert isinstance(ended, GenerationCancelled)
    assert isinstance(last.event, GenerationCancelled)
    assert await count(bus, target, "started") == 0
    assert spy.calls == []


async def test_a_failure_ends_with_the_job_that_caused_it(private_nc, objects, renderer):
    def poisoned(jobs):
        if any(j.spec.prompt == "poison" for j in jobs):
            raise ValueError("the text encoder choked on this prompt")

    bus, spy = EventBus(private_nc), Spy(renderer, fail=poisoned)
    user = uuid.uuid4()
    gone = ImageRef(bucket=WORKSPACE_BUCKET, key=f"{user}/uploads/{uuid.uuid4()}.png")
    missing_reference = examples.requested(
        user,
        num_images=1,
        reference=Reference(image=gone, mode="modify", strength=0.5),
        steps=20,
        guidance_scale=5.0,
    )
    requests = [job("fine"), job("poison"), job("also fine"), missing_reference]
    for request in requests:
        await bus.publish(examples.dispatched(request))
    async with running(private_nc, objects, spy, max_attempts=1):
        ended = [await outcome(bus, request) for request in requests]
    assert [type(event).__name__ for event in ended] == [
        "GenerationCompleted", "GenerationFailed", "GenerationCompleted", "GenerationFailed",
    ]  # fmt: skip
    assert "choked on this prompt" in ended[1].data.reason
    assert ended[3].data.code == "bad_request"
    assert gone.key in ended[3].data.reason
    assert sorted(spy.calls[0]) == [("also fine", 1), ("fine", 1), ("poison", 1)]
    assert [("poison", 1)] in spy.calls  # split down to the job that fails
    assert not any(prompt == "a lighthouse at dusk" for call in spy.calls for prompt, _ in call)


async def test_a_broken_device_leaves_the_jobs_to_a_fresh_process(private_nc, objects, renderer):
    def illegal_access(jobs):
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")

    bus, spy = EventBus(private_nc), Spy(renderer, fail=illegal_access)
    requests = [job("a"), job("b")]
    for request in requests:
        await bus.publish(examples.dispatched(request))
    async with running(private_nc, objects, spy) as worker:
        await asyncio.wait_for(worker.broken.wait(), 60)
        with pytest.raises(FatalDeviceError):
            await asyncio.wait_for(worker.until_broken(asyncio.Event()), 5)
        info = await bus.js.consumer_info(EVENTS.name, "gpu-sdxl")
    assert len(spy.calls) == 1, "no retry in a broken context"
    for request in requests:
        history = subjects.generation_history(request.user_id, request.data.job_id)
        last = (await read_last_event(bus, history)).event
        assert not isinstance(last, OUTCOMES), "a broken device decided the job's outcome"
    assert info.num_ack_pending + info.num_pending + info.num_redelivered >= 2
    assert info.delivered.consumer_seq >= 2
    assert info.ack_floor.consumer_seq == 0
