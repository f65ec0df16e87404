"""What a GPU service's `__main__` calls: its settings, then `main` loads the model once and
consumes its model's jobs until SIGTERM (connections, the consume loop, health).

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

from pydantic import Field

from atelier.contracts import storage
from atelier.contracts.storage import WORKSPACE_RETENTION
from atelier.contracts.streams import EVENTS
from atelier.inference.worker import GenerationWorker, Renderer, consumer_config
from atelier.runtime.consumer import WorkConsumer, ensure_consumer
from atelier.runtime.lifecycle import run_service, wait_all
from atelier.runtime.logs import configure_logging
from atelier.runtime.metrics import observe_consumers
from atelier.runtime.service import resources
from atelier.runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)


class WorkerSettings(RuntimeSettings):
    """Settings every GPU service shares; each adds its model's."""

    #: Where the model is: a local directory or a hub id, loaded with from_pretrained.
    model: str
    device: str = "auto"
    dtype: str = "auto"
    #: CUDA speed-ups, off by default: compile the denoiser, use channels-last memory.
    torch_compile: bool = False
    channels_last: bool = False
    max_attempts: int = Field(default=3, ge=1, le=20)
    #: How long generated files stay in the workspace unless saved (fixed in the event).
    workspace_retention_days: float = Field(
        default=WORKSPACE_RETENTION.total_seconds() / 86400, gt=0
    )
    ack_wait_seconds: float = Field(default=60.0, ge=4.0)


def main(service: str, settings: WorkerSettings, load: Callable[[], Renderer]) -> None:
    """Load the model once, then consume until SIGTERM."""
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
        )
        await worker.watch_cancellations()
        consumer = WorkConsumer(
            js=res.bus.js,
            stream=EVENTS.name,
            durable=config.durable_name,
            handle=worker.handle,
            heartbeat_seconds=settings.ack_wait_seconds / 4,
            # the worker itself fails a job after its attempts: every job gets an outcome
            max_attempts=None,
            config=config,
        )
        log.info("worker ready", extra={"model": renderer.model, "consumer": config.durable_name})
        await wait_all(
            stop,
            consumer.run(stop),
            observe_consumers(res.bus.js, [config.durable_name], stop),
        )
