"""The generation worker every GPU service runs; only the renderer differs per model.

The model owns the accelerator: one pipeline call at a time per process. Replicas compete on
one durable pull consumer of their model's `generation.dispatched` events: the scheduler
(`services/scheduler`) dispatches jobs in a fair order, as many as the workers announce
they hold (`announce_capacity`). Object keys and message ids are
deterministic, and a job whose outcome is already on the log is not run again, so a job
redelivered after a crash is completed exactly once.

A worker may hold several deliveries at once (`max_batch_images` of them when batching):
jobs that can share a call (the renderer's batch key: same size, steps, guidance, ...), of
whichever users, are gathered within `batch_window` seconds and rendered together, each
with its own seeds, progress, cancellation, files and outcome (`atelier.inference.batching`,
`atelier.inference.batch_render`). Each delivery is still acknowledged on its own, after its
own outcome is on the log, and heartbeated by the work consumer while it waits.

Every accepted job ends in exactly one outcome: `generation.completed`, `.failed` (a bad
request or a size the device cannot hold at once; a transient error after `max_attempts`)
or `.cancelled`. A device error that breaks the process's CUDA context is none of these:
the job is not acknowledged and the service ends (`FatalDeviceError`), so that another
process, on a fresh context, gets it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry import context as otel_context
from PIL import Image, UnidentifiedImageError

from atelier.contracts import storage, subjects
from atelier.contracts.generation import (
    MAX_IMAGES,
    MAX_REASON_CHARS,
    OUTCOMES,
    GeneratedAsset,
    GenerationCancelled,
    GenerationCancelledData,
    GenerationCompleted,
    GenerationCompletedData,
    GenerationDispatched,
    GenerationFailed,
    GenerationFailedData,
    GenerationSpec,
    GenerationStarted,
    GenerationStartedData,
    ImageRef,
)
from atelier.contracts.scheduling import CAPACITY_INTERVAL_SECONDS, WorkerCapacity
from atelier.contracts.text import MULTI_LINE
from atelier.inference.batch_render import Failed, JobOutcome, Stopped, render_jobs
from atelier.inference.batching import Batcher
from atelier.inference.faults import FatalDeviceError
from atelier.inference.jobs import BadRequest, RenderedFile, Renderer, RenderJob, volume
from atelier.inference.progress import published_hooks
from atelier.runtime import metrics
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Delivery, Reject, Retry
from atelier.runtime.objects import ObjectStore
from atelier.runtime.tracing import tracer

__all__ = [
    "BadRequest",
    "FatalDeviceError",
    "GenerationWorker",
    "RenderJob",
    "RenderedFile",
    "Renderer",
    "consumer_config",
]

log = logging.getLogger(__name__)


def consumer_config(model: str, *, ack_wait: float = 60.0) -> ConsumerConfig:
    """The durable consumer every replica of one model's service shares."""
    return ConsumerConfig(
        durable_name=f"gpu-{model}",
        filter_subject=subjects.generation_events(GenerationDispatched.name, model=model),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=64,
        max_deliver=-1,  # the worker itself fails a job after max_attempts
    )


@dataclass(frozen=True)
class _Pending:
    """A job handed to the batcher: its request, its delivery's attempt, its input images,
    the trace context of its handler (what the group does for it belongs to its trace), and,
    once cancelled, the step it stopped at: None while it waited for its group, else the
    step at which it left its running call (set from the render thread)."""

    request: GenerationDispatched
    attempt: int
    #: Its place on the log: jobs are batched in the order they were dispatched.
    sequence: int
    images: dict[ImageRef, Image.Image]
    trace: otel_context.Context
    stopped: asyncio.Future[int | None]

    @property
    def spec(self) -> GenerationSpec:
        return self.request.data.spec


@dataclass(frozen=True)
class _Again:
    """Not run (the worker is stopping): the delivery goes back to the stream."""


@dataclass(frozen=True)
class _Done:
    """What a job's handler gets back from its group: the outcome, the group's size and
    render time (the same for every job in it), and the job's share of that time."""

    outcome: JobOutcome | _Again
    jobs: int = 1
    seconds: float = 0.0
    share: float = 0.0


class GenerationWorker:
    def __init__(
        self,
        *,
        bus: EventBus,
        objects: ObjectStore,
        renderer: Renderer,
        worker_id: str,
        max_attempts: int = 3,
        retention: timedelta = storage.WORKSPACE_RETENTION,
        batch_window: float = 0.0,
        max_batch_images: int = MAX_IMAGES,
        stopping: asyncio.Event | None = None,
    ) -> None:
        """`retention`: how long the files stay in the workspace unless saved.
        `batch_window`: seconds a job waits for others to share its call (0: none);
        `max_batch_images`: images of the model's native size one call may make (a larger
        size counts for more); `stopping`: once set, jobs not yet started go back."""
        self.bus = bus
        self.objects = objects
        self.renderer = renderer
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.retention = retention
        self.max_batch_images = max_batch_images
        self.stopping = stopping
        self.source = f"gpu-{renderer.model}"
        #: Jobs whose cancellation was seen on the bus while they may be running.
        self.cancelled: set[uuid.UUID] = set()
        #: Jobs handed to the batcher whose call has not started yet.
        self.waiting: dict[uuid.UUID, _Pending] = {}
        #: Set when the device broke: the service ends (see `FatalDeviceError`).
        self.broken = asyncio.Event()
        #: While a call runs the worker can start nothing: it takes no jobs and tells the
        #: scheduler so (`announce_capacity`), which then hands them to no one else.
        self.rendering = False
        self._capacity_changed = asyncio.Event()
        #: What it announces while idle (0 until it announces at all).
        self.slots = 0
        self.batcher: Batcher[_Pending, _Done] = Batcher(
            self._run_group,
            key=lambda pending: renderer.batch_key(pending.spec),
            rows=lambda pending: pending.spec.num_images,
            capacity=lambda pending: self.capacity(pending.spec),
            window=batch_window,
            order=lambda pending: pending.sequence,
        )

    def capacity(self, spec: GenerationSpec) -> int:
        """Images of `spec`'s size one call may make: `max_batch_images` at the model's native
        size or below, proportionally fewer above it (at least one)."""
        return self.capacity_at(volume(spec))

    def capacity_at(self, pixels: int) -> int:
        """Images of `pixels` pixels (x frames) each one call may make."""
        native = getattr(self.renderer, "native_volume", 0) or pixels
        scaled = self.max_batch_images * native // pixels
        return max(1, min(self.max_batch_images, scaled))

    async def watch_cancellations(self) -> None:
        """Learn of cancel requests as they are appended (core NATS sees JetStream traffic)."""

        async def on_cancel(msg) -> None:
            job_id = uuid.UUID(msg.subject.split(".")[-2])
            self.cancelled.add(job_id)
            if (pending := self.waiting.get(job_id)) is not None:
                _settle_once(pending.stopped, None)  # it needs no call to end

        subject = subjects.generation_events("cancel_requested", model=self.renderer.model)
        await self.bus.nc.subscribe(subject, cb=on_cancel)

    def may_fetch(self) -> bool:
        """Whether the worker takes more jobs now: not while a call runs."""
        return not self.rendering and not self.broken.is_set()

    async def announce_capacity(self, slots: int, stop: asyncio.Event) -> None:
        """Tell the scheduler how many jobs this worker can start now: `slots` while the
        device is idle, none while a call runs; at once when that changes, and every
        `CAPACITY_INTERVAL_SECONDS` until `stop` (then none, so that it stops counting this
        worker at once). Called once warm: a warming worker gets no jobs."""
        self.slots = slots
        while not stop.is_set() and not self.broken.is_set():
            self._capacity_changed.clear()
            await self._announce(slots if self.may_fetch() else 0)
            waits = {asyncio.ensure_future(e.wait()) for e in (stop, self._capacity_changed)}
            try:
                await asyncio.wait(
                    waits, timeout=CAPACITY_INTERVAL_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for wait in waits:
                    wait.cancel()
        self.slots = 0
        await self._announce(0)

    async def _announce(self, free: int) -> None:
        capacity = WorkerCapacity(worker=self.worker_id, model=self.renderer.model, slots=free)
        subject = subjects.worker_capacity(self.renderer.model)
        with contextlib.suppress(nats.errors.Error):  # reconnecting: the next one will do
            await self.bus.nc.publish(subject, capacity.model_dump_json().encode())

    async def until_broken(self, stop: asyncio.Event) -> None:
        """Until `stop`; raise `FatalDeviceError` if the device breaks first. One of the
        service's tasks, whose failure stops the others and ends the process."""
        waits = [asyncio.ensure_future(self.broken.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self.broken.is_set():
            raise FatalDeviceError("the device failed; this process cannot use it any more")

    async def handle(self, delivery: Delivery) -> None:
        request = delivery.event
        if not isinstance(request, GenerationDispatched):
            raise Reject(f"not a dispatched job: {request.type}")
        if self.broken.is_set():
            raise FatalDeviceError("the device failed earlier; leaving the job to another")
        job_id = request.data.job_id
        if await self._on_log(request, *(outcome.name for outcome in OUTCOMES)):
            log.info("job already has its outcome; acknowledging", extra={"job": str(job_id)})
            return
        if await self._cancel_asked(request):
            await self._cancelled(request, at_step=None)
            return
        if delivery.attempt > self.max_attempts:
            await self._fail(request, "retries_exhausted", f"gave up after {self.max_attempts}")
            return
        spec = request.data.spec
        try:
            images = await self._load_images(spec)
        except BadRequest as error:
            await self._fail(request, "bad_request", str(error))
            return
        with tracer.start_as_current_span(
            f"render {self.renderer.model}",
            attributes={
                "atelier.model": self.renderer.model,
                "atelier.quality": spec.quality,
                "atelier.steps": spec.steps,
                "atelier.images": spec.num_images,
                "atelier.size": f"{spec.width}x{spec.height}",
            },
        ) as span:
            stopped = asyncio.get_running_loop().create_future()
            pending = _Pending(
                request,
                delivery.attempt,
                delivery.sequence,
                images,
                otel_context.get_current(),
                stopped,
            )
            done = await self._outcome(pending)
            span.set_attribute("atelier.batch.jobs", done.jobs)
        await self._settle(request, delivery.attempt, done)

    async def _outcome(self, pending: _Pending) -> _Done:
        """The job's outcome from its group; a cancelled job's as soon as it is cancelled
        while it waits, or left its running call, without waiting for the others' call."""
        job_id = pending.request.data.job_id
        self.waiting[job_id] = pending
        group = asyncio.ensure_future(self.batcher.submit(pending))
        try:
            await asyncio.wait({group, pending.stopped}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            group.cancel()
            raise
        finally:
            self.waiting.pop(job_id, None)
        if group.done():
            return group.result()
        group.add_done_callback(_forget)  # the group's later word on this job changes nothing
        return _Done(Stopped(pending.stopped.result()))

    async def _settle(self, request: GenerationDispatched, attempt: int, done: _Done) -> None:
        """Record the job's outcome (or hand the delivery back)."""
        outcome = done.outcome
        if isinstance(outcome, _Again):
            raise Retry("the worker is stopping; another one takes the job", delay=0.0)
        if isinstance(outcome, Stopped):
            await self._cancelled(request, at_step=outcome.at_step)
        elif isinstance(outcome, Failed):
            await self._failed(request, attempt, outcome)
        else:
            await self._completed(request, outcome.files, done)

    async def _failed(self, request: GenerationDispatched, attempt: int, failed: Failed) -> None:
        error, spec = failed.error, request.data.spec
        if isinstance(error, BadRequest):
            await self._fail(request, "bad_request", str(error))
        elif failed.out_of_memory:
            await self._fail(request, "bad_request", _out_of_memory(spec, self.renderer))
        elif attempt >= self.max_attempts:
            log.error("job failed for the last time", exc_info=error)
            await self._fail(request, "retries_exhausted", f"{type(error).__name__}: {error}")
        else:
            raise Retry(f"render failed: {error!r}", delay=2.0**attempt) from error

    async def _completed(
        self, request: GenerationDispatched, files: list[RenderedFile], done: _Done
    ) -> None:
        spec = request.data.spec
        assets = [await self._store(request, file) for file in files]
        metrics.JOB_SECONDS.labels(spec.model, spec.quality).observe(done.seconds)
        metrics.JOBS.labels(spec.model, "completed").inc()
        await self._publish(
            GenerationCompleted,
            GenerationCompletedData,
            request,
            spec=spec,
            assets=assets,
            worker_id=self.worker_id,
            inference_seconds=done.seconds,
            gpu_seconds=done.share,
            expires_at=datetime.now(UTC) + self.retention,
        )

    async def _run_group(self, group: list[_Pending]) -> list[_Done]:
        """Render a group of compatible jobs in the render thread: those cancelled meanwhile
        end at once, the others are started and rendered together."""
        if self.broken.is_set():
            raise FatalDeviceError("the device failed earlier; leaving the jobs to others")
        if self.stopping is not None and self.stopping.is_set():
            return [_Done(_Again()) for _ in group]
        # Busy from now: said before `started` goes to the log (on the same connection, so
        # the scheduler hears it first), or it would count these slots free again; and no
        # more jobs are taken until the call ends (they stay for an idle replica).
        self.rendering = True
        try:
            return await self._start_and_render(group)
        finally:
            self.rendering = False
            self._capacity_changed.set()  # idle again: announced at once

    async def _start_and_render(self, group: list[_Pending]) -> list[_Done]:
        """End the group's jobs cancelled meanwhile; start and render the others."""
        if self.slots:
            await self._announce(0)
        done: list[_Done] = [_Done(Stopped(None)) for _ in group]
        asked_on_log = await asyncio.gather(*(self._cancel_asked(p.request) for p in group))
        # A cancel seen on the bus while the log was read has ended its job already (its
        # `cancelled` is on the log): starting it now would append `started` after it.
        cancelled = [
            asked or pending.stopped.done()
            for pending, asked in zip(group, asked_on_log, strict=True)
        ]
        running = [index for index, asked in enumerate(cancelled) if not asked]
        for pending, asked in zip(group, cancelled, strict=True):
            self.waiting.pop(pending.request.data.job_id, None)
            if asked:  # its handler need not wait for the others' call
                _settle_once(pending.stopped, None)
        if not running:
            return done
        try:
            await asyncio.gather(*(self._started(group[index]) for index in running))
            jobs = [self._job(group[index]) for index in running]
            started = time.perf_counter()
            outcomes = await asyncio.to_thread(
                render_jobs,
                self.renderer,
                jobs,
                capacity=self.capacity(jobs[0].spec),
                device=self.renderer.pipeline.device,
            )
        except FatalDeviceError:
            log.critical("the device failed; this process must end", exc_info=True)
            self.broken.set()
            raise
        seconds = round(time.perf_counter() - started, 3)
        images = sum(job.spec.num_images for job in jobs)
        for index, job, outcome in zip(running, jobs, outcomes, strict=True):
            share = round(seconds * job.spec.num_images / images, 3)
            done[index] = _Done(outcome, jobs=len(running), seconds=seconds, share=share)
        return done

    async def _cancel_asked(self, request: GenerationDispatched) -> bool:
        """Whether the job's cancellation was seen on the bus or is on the log."""
        if request.data.job_id in self.cancelled:
            return True
        return await self._on_log(request, "cancel_requested")

    async def _started(self, pending: _Pending) -> None:
        request = pending.request
        token = otel_context.attach(pending.trace)
        try:
            await self._publish(
                GenerationStarted,
                GenerationStartedData,
                request,
                worker_id=self.worker_id,
                attempt=pending.attempt,
            )
        finally:
            otel_context.detach(token)

    async def _load_images(self, spec: GenerationSpec) -> dict[ImageRef, Image.Image]:
        images = {}
        for ref in spec.images():
            if not await self.objects.exists(ref.bucket, ref.key):
                raise BadRequest(f"the image {ref.key} is not there (deleted or expired?)")
            data = await self.objects.get(ref.bucket, ref.key)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    images[ref] = image.convert("RGB")
            except (UnidentifiedImageError, OSError) as error:
                raise BadRequest(f"{ref.key} is not an image this service can read") from error
        return images

    async def _store(self, request: GenerationDispatched, file: RenderedFile) -> GeneratedAsset:
        user, job = request.user_id, request.data.job_id
        key = storage.generated_file(user, job, file.index, file.extension)
        thumbnail_key = storage.generated_thumbnail(user, job, file.index)
        await self.objects.put(storage.WORKSPACE_BUCKET, key, file.data, file.mime_type)
        await self.objects.put(
            storage.WORKSPACE_BUCKET, thumbnail_key, file.thumbnail, "image/webp"
        )
        return GeneratedAsset(
            index=file.index,
            asset_type=file.asset_type,
            storage_key=key,
            thumbnail_key=thumbnail_key,
            mime_type=file.mime_type,
            file_size_bytes=len(file.data),
            width=file.width,
            height=file.height,
            duration_seconds=file.duration_seconds,
            seed=file.seed,
        )

    async def _on_log(self, request: GenerationDispatched, *names: str) -> bool:
        """Whether one of these events of the job is on the log already."""
        for name in names:
            subject = subjects.generation(
                request.user_id, request.data.model, request.data.job_id, name
            )
            if await self.bus.last_sequence(subject):
                return True
        return False

    async def _cancelled(self, request: GenerationDispatched, at_step: int | None) -> None:
        self.cancelled.discard(request.data.job_id)
        await self._discard_files(request)
        metrics.JOBS.labels(request.data.model, "cancelled").inc()
        await self._publish(GenerationCancelled, GenerationCancelledData, request, at_step=at_step)

    async def _fail(self, request: GenerationDispatched, code: str, reason: str) -> None:
        await self._discard_files(request)
        metrics.JOBS.labels(request.data.model, "failed").inc()
        await self._publish(
            GenerationFailed,
            GenerationFailedData,
            request,
            # an error's text can hold anything (a long traceback, colour codes, a NUL)
            reason=MULTI_LINE.replaced(reason, MAX_REASON_CHARS),
            code=code,
        )

    async def _discard_files(self, request: GenerationDispatched) -> None:
        """A job that ends without `completed` leaves no files: an earlier attempt may have
        uploaded some before it failed (nothing would ever reference or delete them)."""
        prefix = storage.job_prefix(request.user_id, request.data.job_id)
        if removed := await self.objects.delete_prefix(storage.WORKSPACE_BUCKET, prefix):
            log.info("removed a partial upload", extra={"files": removed, "prefix": prefix})

    async def _publish(
        self, event_type, data_type, request: GenerationDispatched, **fields: Any
    ) -> None:
        """An event of the request's job, caused by the request: its data (`data_type`)
        names the job and its model, and holds `fields`."""
        data = data_type(job_id=request.data.job_id, model=request.data.model, **fields)
        event = event_type.create(
            source=self.source, user_id=request.user_id, data=data, causation=request
        )
        await self.bus.publish(event)

    def _job(self, pending: _Pending) -> RenderJob:
        """The render job, with hooks the render thread calls: progress (and previews)
        go out on core NATS; a cancellation seen on the bus stops it at the next step, and
        the step it stopped at settles `pending.stopped`."""
        request, loop = pending.request, asyncio.get_running_loop()
        job_id = request.data.job_id

        def on_stop(done: int, total: int) -> None:
            loop.call_soon_threadsafe(_settle_once, pending.stopped, done)

        hooks = published_hooks(
            self.bus.nc,
            request.user_id,
            job_id,
            request.data.spec.steps,
            should_stop=lambda: job_id in self.cancelled,
            on_stop=on_stop,
        )
        return RenderJob(spec=request.data.spec, images=pending.images, hooks=hooks)


def _settle_once(future: asyncio.Future[int | None], step: int | None) -> None:
    if not future.done():
        future.set_result(step)


def _forget(group: asyncio.Future) -> None:
    """Retrieve a group's outcome nobody waits for any more (also its error, if any)."""
    if not group.cancelled():
        group.exception()


def _out_of_memory(spec: GenerationSpec, renderer: Renderer) -> str:
    """Why a job failed that does not fit in the device's memory even alone."""
    device = renderer.pipeline.device
    memory = "GPU memory" if device.startswith("cuda") else f"memory ({device})"
    video = spec.mode == "video" and spec.num_frames
    size = f"{spec.width}x{spec.height}" + (f", {spec.num_frames} frames" if video else "")
    smaller = "a smaller size or fewer frames" if video else "a smaller size"
    return f"out of {memory} at {size}, {spec.steps} steps, one image at a time; try {smaller}"
