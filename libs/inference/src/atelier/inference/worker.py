"""The generation worker every GPU service runs; only the renderer differs per model.

One job at a time per process: the model owns the accelerator. Replicas compete on one
durable pull consumer filtered to their model. Object keys and message ids are
deterministic, and a job whose outcome is already on the log is not run again, so a job
redelivered after a crash is completed exactly once.

Every accepted job ends in exactly one outcome: `generation.completed`, `.failed` (a bad
request at once; a transient error after `max_attempts`) or `.cancelled`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from nats.js.api import AckPolicy, ConsumerConfig
from PIL import Image, UnidentifiedImageError

from atelier.contracts import storage, subjects
from atelier.contracts.generation import (
    MAX_REASON_CHARS,
    OUTCOMES,
    AssetType,
    GeneratedAsset,
    GenerationCancelled,
    GenerationCancelledData,
    GenerationCompleted,
    GenerationCompletedData,
    GenerationFailed,
    GenerationFailedData,
    GenerationRequested,
    GenerationSpec,
    GenerationStarted,
    GenerationStartedData,
    ImageRef,
)
from atelier.contracts.text import MULTI_LINE
from atelier.inference.media import encode_mp4, encode_png, webp_thumbnail
from atelier.inference.pipelines import CallArguments, LoadedPipelines
from atelier.inference.progress import GenerationInterrupted, StepHooks, published_hooks
from atelier.runtime import metrics
from atelier.runtime.bus import EventBus
from atelier.runtime.consumer import Delivery, Reject, Retry
from atelier.runtime.objects import ObjectStore
from atelier.runtime.tracing import tracer

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """The job can never succeed as asked (e.g. its reference image is gone)."""


@dataclass(frozen=True)
class RenderedFile:
    """One file a job made, encoded, with its WebP thumbnail."""

    index: int
    asset_type: AssetType
    extension: str
    mime_type: str
    data: bytes
    thumbnail: bytes
    width: int
    height: int
    seed: int
    duration_seconds: float | None = None

    @classmethod
    def png(cls, index: int, image: Image.Image, spec: GenerationSpec, seed: int) -> RenderedFile:
        """A still image: a PNG carrying the job's parameters (with its own seed)."""
        parameters = spec.model_dump(mode="json", exclude={"num_images"}) | {"seed": seed}
        return cls._encoded(index, seed, "image", "png", encode_png(image, parameters), image)

    @classmethod
    def mp4(cls, index: int, frames: Sequence[Image.Image], fps: int, seed: int) -> RenderedFile:
        """A video: H.264 MP4 of `frames` at `fps`, its middle frame as the thumbnail."""
        data, middle = encode_mp4(frames, fps), frames[len(frames) // 2]
        return cls._encoded(index, seed, "video", "mp4", data, middle, len(frames) / fps)

    @classmethod
    def _encoded(
        cls,
        index: int,
        seed: int,
        asset_type: AssetType,
        extension: str,
        data: bytes,
        shown: Image.Image,
        duration_seconds: float | None = None,
    ) -> RenderedFile:
        """`shown`: the picture its size and thumbnail come from."""
        return cls(
            index=index,
            asset_type=asset_type,
            extension=extension,
            mime_type=f"{asset_type}/{extension}",  # image/png, video/mp4
            data=data,
            thumbnail=webp_thumbnail(shown),
            width=shown.width,
            height=shown.height,
            seed=seed,
            duration_seconds=duration_seconds,
        )


@dataclass(frozen=True)
class RenderJob:
    """What a renderer gets: the spec, its input images decoded, and the step hooks."""

    spec: GenerationSpec
    images: Mapping[ImageRef, Image.Image]
    hooks: StepHooks

    def arguments(self, seed: int) -> CallArguments:
        """The keyword arguments every pipeline call of this job shares."""
        spec = self.spec
        return CallArguments(
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            seed=seed,
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            hooks=self.hooks,
        )


class Renderer(Protocol):
    """Turns a job into files. Runs in a worker thread: it may block on the model."""

    model: str
    pipeline: LoadedPipelines

    def render(self, job: RenderJob) -> list[RenderedFile]: ...


def consumer_config(model: str, *, ack_wait: float = 60.0) -> ConsumerConfig:
    """The durable consumer every replica of one model's service shares."""
    return ConsumerConfig(
        durable_name=f"gpu-{model}",
        filter_subject=subjects.generation_events("requested", model=model),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=64,
        max_deliver=-1,  # the worker itself fails a job after max_attempts
    )


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
    ) -> None:
        """`retention`: how long the files stay in the workspace unless saved."""
        self.bus = bus
        self.objects = objects
        self.renderer = renderer
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.retention = retention
        self.source = f"gpu-{renderer.model}"
        #: Jobs whose cancellation was seen on the bus while they may be running.
        self.cancelled: set[uuid.UUID] = set()

    async def watch_cancellations(self) -> None:
        """Learn of cancel requests as they are appended (core NATS sees JetStream traffic)."""

        async def on_cancel(msg) -> None:
            self.cancelled.add(uuid.UUID(msg.subject.split(".")[-2]))

        subject = subjects.generation_events("cancel_requested", model=self.renderer.model)
        await self.bus.nc.subscribe(subject, cb=on_cancel)

    async def handle(self, delivery: Delivery) -> None:
        request = delivery.event
        if not isinstance(request, GenerationRequested):
            raise Reject(f"not a generation request: {request.type}")
        job_id = request.data.job_id
        if await self._on_log(request, *(outcome.name for outcome in OUTCOMES)):
            log.info("job already has its outcome; acknowledging", extra={"job": str(job_id)})
            return
        if job_id in self.cancelled or await self._on_log(request, "cancel_requested"):
            await self._cancelled(request, at_step=None)
            return
        if delivery.attempt > self.max_attempts:
            await self._fail(request, "retries_exhausted", f"gave up after {self.max_attempts}")
            return
        try:
            images = await self._load_images(request.data.spec)
        except BadRequest as error:
            await self._fail(request, "bad_request", str(error))
            return
        await self._publish(
            GenerationStarted,
            request,
            GenerationStartedData(
                job_id=job_id,
                model=request.data.model,
                worker_id=self.worker_id,
                attempt=delivery.attempt,
            ),
        )
        started = time.perf_counter()
        spec = request.data.spec
        job = self._job(request, images)
        try:
            with tracer.start_as_current_span(
                f"render {self.renderer.model}",
                attributes={
                    "atelier.model": self.renderer.model,
                    "atelier.quality": spec.quality,
                    "atelier.steps": spec.steps,
                    "atelier.images": spec.num_images,
                    "atelier.size": f"{spec.width}x{spec.height}",
                },
            ):
                files = await asyncio.to_thread(self.renderer.render, job)
        except GenerationInterrupted as stopped:
            await self._cancelled(request, at_step=stopped.steps_done)
            return
        except BadRequest as error:
            await self._fail(request, "bad_request", str(error))
            return
        except Exception as error:
            if delivery.attempt >= self.max_attempts:
                log.exception("job failed for the last time")
                await self._fail(request, "retries_exhausted", f"{type(error).__name__}: {error}")
                return
            raise Retry(f"render failed: {error!r}", delay=2.0**delivery.attempt) from error
        assets = [await self._store(request, file) for file in files]
        seconds = round(time.perf_counter() - started, 3)
        metrics.JOB_SECONDS.labels(spec.model, spec.quality).observe(seconds)
        metrics.JOBS.labels(spec.model, "completed").inc()
        await self._publish(
            GenerationCompleted,
            request,
            GenerationCompletedData(
                job_id=job_id,
                model=request.data.model,
                spec=request.data.spec,
                assets=assets,
                worker_id=self.worker_id,
                inference_seconds=seconds,
                expires_at=datetime.now(UTC) + self.retention,
            ),
        )

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

    async def _store(self, request: GenerationRequested, file: RenderedFile) -> GeneratedAsset:
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

    async def _on_log(self, request: GenerationRequested, *names: str) -> bool:
        """Whether one of these events of the job is on the log already."""
        for name in names:
            subject = subjects.generation(
                request.user_id, request.data.model, request.data.job_id, name
            )
            if await self.bus.last_sequence(subject):
                return True
        return False

    async def _cancelled(self, request: GenerationRequested, at_step: int | None) -> None:
        self.cancelled.discard(request.data.job_id)
        await self._discard_files(request)
        metrics.JOBS.labels(request.data.model, "cancelled").inc()
        data = GenerationCancelledData(
            job_id=request.data.job_id, model=request.data.model, at_step=at_step
        )
        await self._publish(GenerationCancelled, request, data)

    async def _fail(self, request: GenerationRequested, code: str, reason: str) -> None:
        await self._discard_files(request)
        metrics.JOBS.labels(request.data.model, "failed").inc()
        data = GenerationFailedData(
            job_id=request.data.job_id,
            model=request.data.model,
            # an error's text can hold anything (a long traceback, colour codes, a NUL)
            reason=MULTI_LINE.replaced(reason, MAX_REASON_CHARS),
            code=code,
        )
        await self._publish(GenerationFailed, request, data)

    async def _discard_files(self, request: GenerationRequested) -> None:
        """A job that ends without `completed` leaves no files: an earlier attempt may have
        uploaded some before it failed (nothing would ever reference or delete them)."""
        prefix = storage.job_prefix(request.user_id, request.data.job_id)
        if removed := await self.objects.delete_prefix(storage.WORKSPACE_BUCKET, prefix):
            log.info("removed a partial upload", extra={"files": removed, "prefix": prefix})

    async def _publish(self, event_type, request: GenerationRequested, data) -> None:
        event = event_type.create(
            source=self.source, user_id=request.user_id, data=data, causation=request
        )
        await self.bus.publish(event)

    def _job(self, request: GenerationRequested, images) -> RenderJob:
        """The render job, with hooks the render thread calls: progress (and previews)
        go out on core NATS; a cancellation seen on the bus stops it at the next step."""
        job_id = request.data.job_id
        hooks = published_hooks(
            self.bus.nc,
            request.user_id,
            job_id,
            request.data.spec.steps,
            should_stop=lambda: job_id in self.cancelled,
        )
        return RenderJob(spec=request.data.spec, images=images, hooks=hooks)
