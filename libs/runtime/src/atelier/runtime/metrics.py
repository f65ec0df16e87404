"""Prometheus metrics: each process exposes its own at `/metrics` (the gateway on its API
port, the others on their health port)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js.client import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from atelier.contracts.streams import DEAD_LETTERS, EVENTS

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "atelier_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
JOBS = Counter(
    "atelier_generation_jobs_total", "Generation jobs ended, by outcome", ["model", "outcome"]
)
JOB_SECONDS = Histogram(
    "atelier_generation_seconds",
    "Inference time of completed jobs",
    ["model", "quality"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
QUEUE_DEPTH = Gauge("atelier_queue_depth", "Jobs waiting for a worker", ["model"])
CONSUMER_PENDING = Gauge(
    "atelier_consumer_pending", "Messages a durable consumer has not acknowledged", ["consumer"]
)
PROJECTION_LAG = Gauge(
    "atelier_projection_lag", "Events a projection has yet to apply", ["projection"]
)
PROJECTION_STALLED = Gauge(
    "atelier_projection_stalled",
    "1 while a projection has events to apply and has made no progress for a while",
    ["projection"],
)
PROJECTION_PARTITIONS = Gauge(
    "atelier_projection_partitions",
    "Partitions of users whose events this replica applies",
    ["projection"],
)
PROJECTION_RESTARTS = Counter(
    "atelier_projection_restarts_total",
    "Times a projection's reader started again from the stored position",
    ["projection"],
)
DEAD_LETTERED = Gauge("atelier_dead_letters", "Messages in the dead-letter stream")
DEAD_LETTERS_TOTAL = Counter(
    "atelier_dead_lettered_total",
    "Messages this process dead-lettered, by consumer and why",
    ["consumer", "why"],
)
RETRIES = Counter(
    "atelier_consumer_retries_total", "Messages handed back to be tried again", ["consumer"]
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def observe_consumers(
    js: JetStreamContext, durables: list[str], stop: asyncio.Event, interval: float = 5.0
) -> None:
    """Keep the consumer, queue and dead-letter gauges current."""
    while not stop.is_set():
        try:
            for durable in durables:
                info = await js.consumer_info(EVENTS.name, durable)
                CONSUMER_PENDING.labels(durable).set(info.num_pending + info.num_ack_pending)
                if durable.startswith("gpu-"):
                    QUEUE_DEPTH.labels(durable.removeprefix("gpu-")).set(info.num_pending)
            DEAD_LETTERED.set((await js.stream_info(DEAD_LETTERS.name)).state.messages)
        except Exception as error:  # a metric is never worth a crash
            log.warning("metrics not updated", extra={"error": repr(error)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
