"""What a GPU service's `__main__` calls: its settings, then `main` loads the model once,
warms it up and consumes its model's jobs until SIGTERM (connections, the consume loop,
health).

A GPU service reads top-down: its `__main__` → `main` here → the `GenerationWorker`
(`atelier.inference.worker`) → the service's renderer → its pipeline class.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar, Literal

from prometheus_client import Gauge
from pydantic import Field

from atelier.contracts import storage
from atelier.contracts.storage import WORKSPACE_RETENTION
from atelier.contracts.streams import EVENTS
from atelier.inference.device import batch_capacity
from atelier.inference.faults import FATAL_DEVICE_EXIT, FatalDeviceError
from atelier.inference.pipelines import DEFAULT_VAE_TILING_ABOVE, LoadedPipelines
from atelier.inference.warmup import Warmup, WarmupShape
from atelier.inference.worker import GenerationWorker, Renderer, consumer_config
from atelier.runtime.consumer import WorkConsumer, ensure_consumer
from atelier.runtime.lifecycle import run_service, wait_all
from atelier.runtime.logs import configure_logging
from atelier.runtime.metrics import observe_consumers
from atelier.runtime.service import resources
from atelier.runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

WORKER_INFO = Gauge(
    "atelier_gpu_worker_info",
    "What a GPU worker really loaded (device, dtype of the denoiser's weights) and how it "
    "runs (value 1)",
    [
        "model",
        "device",
        "dtype",
        "requested_device",
        "requested_dtype",
        "compiled",
        "step_cache",
        "max_batch_images",
        "batch_window_ms",
    ],
)


class WorkerSettings(RuntimeSettings):
    """Settings every GPU service shares; each adds its model's."""

    #: Where the model is: a local directory or a hub id, loaded with from_pretrained.
    model: str
    device: str = "auto"
    dtype: str = "auto"
    #: CUDA speed-ups, off by default: compile the denoiser, use channels-last memory.
    torch_compile: bool = False
    channels_last: bool = False
    #: Step caching (faster, slightly different results): "deep" (SDXL's UNet, a full step
    #: every STEP_CACHE_INTERVAL steps) or "first_block" (Wan's transformer, skipping the
    #: other blocks while the first one changes less than STEP_CACHE_THRESHOLD). A cache the
    #: model cannot take is reported (log, /metrics) and left off.
    step_cache: Literal["none", "first_block", "deep"] = "none"
    step_cache_interval: int = Field(default=3, ge=2, le=10)
    step_cache_threshold: float = Field(default=0.05, gt=0.0, le=1.0)
    #: Batching across requests: an idle worker lets a job wait this long for others of the
    #: same model, size, steps and guidance to share its call (0: each job alone).
    batch_window_ms: float = Field(default=50.0, ge=0.0, le=5000.0)
    #: Images of the model's native size one call may make (larger sizes count for more);
    #: None: as many as the device's free memory allows after loading, by the service's
    #: estimate per image (CUDA), else 6.
    max_batch_images: int | None = Field(default=None, ge=1, le=64)
    #: Per-image width x height above which the VAE decodes in tiles.
    vae_tiling_above_pixels: int = Field(default=DEFAULT_VAE_TILING_ABOVE, ge=0)
    #: What to render before taking jobs (JSON list of {width, height, steps, guidance_scale,
    #: num_frames, images}); None: the presets at the default size, and on CUDA the
    #: largest batch; []: no warm-up.
    warmup: list[WarmupShape] | None = None
    max_attempts: int = Field(default=3, ge=1, le=20)
    #: How long generated files stay in the workspace unless saved (fixed in the event).
    workspace_retention_days: float = Field(
        default=WORKSPACE_RETENTION.total_seconds() / 86400, gt=0
    )
    ack_wait_seconds: float = Field(default=60.0, ge=4.0)

    #: Memory one image of the native size needs while it is made (activations, decoding),
    #: for the default MAX_BATCH_IMAGES on CUDA; each service says its own.
    image_bytes: ClassVar[int] = 4 * 2**30
    #: The most images a call holds when MAX_BATCH_IMAGES is derived.
    batch_cap: ClassVar[int] = 12

    def preset_shapes(self) -> list[WarmupShape]:
        """The gateway's presets at the default size (what most jobs will be)."""
        return []

    def speed_up(self, pipeline: LoadedPipelines) -> None:
        """What TORCH_COMPILE and STEP_CACHE ask of a freshly loaded `pipeline` (the cache
        with STEP_CACHE_INTERVAL or STEP_CACHE_THRESHOLD: each cache takes its own)."""
        pipeline.speed_up(
            self.step_cache,
            compile=self.torch_compile,
            interval=self.step_cache_interval,
            threshold=self.step_cache_threshold,
        )


def main(service: str, settings: WorkerSettings, load: Callable[[], Renderer]) -> None:
    """Load the model once, then warm up and consume until SIGTERM. A device error that
    leaves the process unusable ends it with `FATAL_DEVICE_EXIT`, for the supervisor to
    start a fresh one (its jobs were not acknowledged: they come back)."""
    configure_logging(service, settings.log_level)  # before loading: the load logs
    renderer = load()
    pipeline = renderer.pipeline
    pipeline.vae_tiling_above = settings.vae_tiling_above_pixels or None
    log.info(
        "pipeline loaded",
        extra={
            "model": settings.model,
            "device": pipeline.device,
            "dtype": str(pipeline.dtype),
            "requested_device": settings.device,
            "requested_dtype": settings.dtype,
            "step_cache": pipeline.step_cache,
            "memory_mib": round(pipeline.memory_bytes / 2**20, 1),
        },
    )
    try:
        run_service(service, settings, lambda stop: serve(settings, renderer, stop))
    except FatalDeviceError:
        exit_for_a_fresh_process()


def exit_for_a_fresh_process() -> None:
    """End the process at once: after a sticky CUDA error even an orderly interpreter exit
    (tearing the context down) may hang or crash."""
    log.critical(
        "the device failed; exiting so that a fresh process takes over",
        exc_info=True,
        extra={"exit_status": FATAL_DEVICE_EXIT},
    )
    logging.shutdown()
    os._exit(FATAL_DEVICE_EXIT)


def max_batch_images(settings: WorkerSettings, renderer: Renderer) -> int:
    """MAX_BATCH_IMAGES, or what the device's free memory allows."""
    if settings.max_batch_images is not None:
        return settings.max_batch_images
    return batch_capacity(
        renderer.pipeline.device, settings.image_bytes, cap=settings.batch_cap, fallback=6
    )


def warmup_shapes(settings: WorkerSettings, worker: GenerationWorker) -> list[WarmupShape]:
    """WARMUP, or the presets at the default size, and (on CUDA, batching) the last one at
    the largest batch: a compiled model compiles again for a batch dimension it has not seen,
    and the first such call finds out whether MAX_BATCH_IMAGES fits."""
    if settings.warmup is not None:
        return list(settings.warmup)
    shapes = settings.preset_shapes()
    on_cuda = worker.renderer.pipeline.device.startswith("cuda")
    if shapes and on_cuda and settings.batch_window_ms > 0:
        last = shapes[-1]
        images = worker.capacity_at(last.width * last.height * (last.num_frames or 1))
        if images > 1:
            shapes.append(last.model_copy(update={"images": images}))
    return shapes


async def serve(settings: WorkerSettings, renderer: Renderer, stop: asyncio.Event) -> None:
    config = consumer_config(renderer.model, ack_wait=settings.ack_wait_seconds)
    async with resources(
        settings,
        service=f"gpu-{renderer.model}",
        bucket=storage.WORKSPACE_BUCKET,
        durables=[config.durable_name],
    ) as res:
        await ensure_consumer(res.bus.js, EVENTS.name, config)
        worker = GenerationWorker(
            bus=res.bus,
            objects=res.objects,
            renderer=renderer,
            worker_id=settings.instance_id or f"{socket.gethostname()}:{os.getpid()}",
            max_attempts=settings.max_attempts,
            retention=timedelta(days=settings.workspace_retention_days),
            batch_window=settings.batch_window_ms / 1000,
            max_batch_images=max_batch_images(settings, renderer),
            stopping=stop,
        )
        warmup = Warmup(renderer, warmup_shapes(settings, worker))
        res.checks["warm-up"] = warmup.check
        _describe(settings, worker)
        await worker.watch_cancellations()
        if not await warmup.run(stop):
            return
        if warmup.fits is not None:
            worker.max_batch_images = min(worker.max_batch_images, warmup.fits)
            _describe(settings, worker)
        batching = settings.batch_window_ms > 0 and worker.max_batch_images > 1
        # jobs in hand at once: with batching, enough to fill a call
        slots = worker.max_batch_images if batching else 1
        consumer = WorkConsumer(
            js=res.bus.js,
            stream=EVENTS.name,
            durable=config.durable_name,
            handle=worker.handle,
            heartbeat_seconds=settings.ack_wait_seconds / 4,
            # the worker itself fails a job after its attempts: every job gets an outcome
            max_attempts=None,
            concurrency=slots,
            may_fetch=worker.may_fetch,
            config=config,
        )
        log.info(
            "worker ready",
            extra={
                "model": renderer.model,
                "consumer": config.durable_name,
                "max_batch_images": worker.max_batch_images,
                "batch_window_ms": settings.batch_window_ms,
            },
        )
        await wait_all(
            stop,
            consumer.run(stop),
            observe_consumers(res.bus.js, [config.durable_name], stop),
            worker.until_broken(stop),
            worker.announce_capacity(slots, stop),
        )


def _describe(settings: WorkerSettings, worker: GenerationWorker) -> None:
    pipeline = worker.renderer.pipeline
    WORKER_INFO.clear()
    WORKER_INFO.labels(
        model=worker.renderer.model,
        device=pipeline.device,
        dtype=str(pipeline.dtype).removeprefix("torch."),
        requested_device=settings.device,
        requested_dtype=settings.dtype,
        compiled=str(settings.torch_compile).lower(),
        step_cache=pipeline.step_cache,
        max_batch_images=str(worker.max_batch_images),
        batch_window_ms=f"{settings.batch_window_ms:g}",
    ).set(1)
