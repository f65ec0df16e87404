"""The generation worker every GPU service runs; only the renderer differs per model.

One job at a time per process: the model owns the accelerator. Replicas compete on
one durable pull consumer filtered to their model. Object keys and message ids are
deterministic, so a job redelivered after a crash is completed exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError
from pydantic import Field

from atelier.contracts import storage, subjects
from atelier.contracts.generation import (
    AssetType,
    GeneratedAsset,
    GenerationCompleted,
    GenerationCompletedData,
    GenerationFailed,
    GenerationFailedData,
    GenerationRequested,
    GenerationSpec,
    GenerationStarted,
    GenerationStartedData,
)
from atelier.contracts.progress import StepProgress
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import EventBus, connect
from atelier.runtime.consumer import Delivery, Reject, Retry, WorkConsumer, ensure_consumer
from atelier.runtime.health import consumer_check, nats_check, s3_check, serve_health
from atelier.runtime.lifecycle import run_service
from atelier.runtime.logs import configure_logging
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """The job can never succeed as asked (e.g. its reference image is gone)."""


@dataclass(frozen=True)
class RenderedFile:
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


StepCallback = Callable[[int, int], None]


class LoadedPipeline(Protocol):
    device: str
    dtype: object
    memory_bytes: int


class Renderer(Protocol):
    """Turns a spec into files. Runs in a worker thread: it may block on the model."""

    model: str
    pipeline: LoadedPipeline

    def render(self, spec: GenerationSpec, on_step: StepCallback) -> list[RenderedFile]: ...


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
    ) -> None:
        self.bus = bus
        self.objects = objects
        self.renderer = renderer
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.source = f"gpu-{renderer.model}"

    async def handle(self, delivery: Delivery) -> None:
        request = delivery.event
        if not isinstance(request, GenerationRequested):
            raise Reject(f"not a generation request: {request.type}")
        if await self._already_finished(request):
            log.info("job already finished; acknowledging", extra={"job": request.data.job_id})
            return
        if delivery.attempt > self.max_attempts:
            await self._fail(request, "retries_exhausted", f"gave up after {self.max_attempts}")
            return
        await self._publish(
            GenerationStarted,
            request,
            GenerationStartedData(
                job_id=request.data.job_id,
                model=request.data.model,
                worker_id=self.worker_id,
                attempt=delivery.attempt,
            ),
        )
        started = time.perf_counter()
        try:
            files = await asyncio.to_thread(
                self.renderer.render, request.data.spec, self._progress_reporter(request)
            )
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
        await self._publish(
            GenerationCompleted,
            request,
            GenerationCompletedData(
                job_id=request.data.job_id,
                model=request.data.model,
                spec=request.data.spec,
                assets=assets,
                worker_id=self.worker_id,
                inference_seconds=round(time.perf_counter() - started, 3),
            ),
        )

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

    async def _already_finished(self, request: GenerationRequested) -> bool:
        """A redelivered job whose outcome is already on the log is not run again."""
        for outcome in ("completed", "failed"):
            subject = subjects.generation(
                request.user_id, request.data.model, request.data.job_id, outcome
            )
            try:
                await self.bus.js.get_last_msg(EVENTS.name, subject)
            except NotFoundError:
                continue
            return True
        return False

    async def _fail(self, request: GenerationRequested, code: str, reason: str) -> None:
        data = GenerationFailedData(
            job_id=request.data.job_id, model=request.data.model, reason=reason, code=code
        )
        await self._publish(GenerationFailed, request, data)

    async def _publish(self, event_type, request: GenerationRequested, data) -> None:
        event = event_type.create(
            source=self.source, user_id=request.user_id, data=data, causation=request
        )
        await self.bus.publish(event)

    def _progress_reporter(self, request: GenerationRequested) -> StepCallback:
        """A callback for the render thread that publishes step progress on core NATS."""
        loop = asyncio.get_running_loop()
        subject = subjects.progress(request.user_id, request.data.job_id)

        def on_step(step: int, total: int) -> None:
            progress = StepProgress(
                job_id=request.data.job_id,
                step=step,
                total=total,
                percent=round(100.0 * step / total, 1),
            )
            payload = progress.model_dump_json().encode()
            asyncio.run_coroutine_threadsafe(self.bus.nc.publish(subject, payload), loop)

        return on_step


def main(service: str, settings: WorkerSettings, load: Callable[[], Renderer]) -> None:
    """Entry point of a GPU service: load the model once, then consume until SIGTERM."""
    configure_logging(service, settings.log_level)  # before loading: the load logs
    renderer = load()
    log.info(
        "pipeline loaded",
        extra={
            "model": settings.model,
            "device": renderer.pipeline.device,
            "dtype": str(renderer.pipeline.dtype),
            "memory_mib": round(renderer.pipeline.memory_bytes / 2**20, 1),
        },
    )
    run_service(service, settings, lambda stop: serve(settings, renderer, stop))


async def serve(settings: WorkerSettings, renderer: Renderer, stop: asyncio.Event) -> None:
    """Composition root shared by the GPU services: connect, bind, consume until stopped."""
    async with contextlib.AsyncExitStack() as stack:
        nc = await connect(settings.nats_url, name=f"gpu-{renderer.model}{settings.instance_id}")
        stack.push_async_callback(nc.drain)
        objects = await stack.enter_async_context(ObjectStore(settings))
        config = consumer_config(renderer.model, ack_wait=settings.ack_wait_seconds)
        await ensure_consumer(nc.jetstream(), EVENTS.name, config)
        worker = GenerationWorker(
            bus=EventBus(nc),
            objects=objects,
            renderer=renderer,
            worker_id=settings.instance_id or f"{socket.gethostname()}:{os.getpid()}",
            max_attempts=settings.max_attempts,
        )
        consumer = WorkConsumer(
            js=nc.jetstream(),
            stream=EVENTS.name,
            durable=config.durable_name,
            handle=worker.handle,
            heartbeat_seconds=settings.ack_wait_seconds / 4,
        )
        await serve_health(
            settings,
            {
                "nats": nats_check(nc),
                "s3": s3_check(objects, storage.WORKSPACE_BUCKET),
                "consumer": consumer_check(nc.jetstream(), EVENTS.name, config.durable_name),
            },
            stack,
        )
        log.info("worker ready", extra={"model": renderer.model, "consumer": config.durable_name})
        await consumer.run(stop)


class WorkerSettings(RuntimeSettings):
    """Settings every GPU service shares; each adds its model's."""

    #: Where the model is: a local directory or a hub id, loaded with from_pretrained.
    model: str
    device: str = "auto"
    dtype: str = "auto"
    max_attempts: int = Field(default=3, ge=1, le=20)
    ack_wait_seconds: float = Field(default=60.0, ge=4.0)
