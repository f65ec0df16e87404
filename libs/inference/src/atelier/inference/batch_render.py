"""Rendering a group of compatible jobs: in one call when they fit, in smaller ones when they
do not, and each job's outcome its own.

A group's images go in as few calls as `capacity` allows (a job bigger than that is made in
parts, in image order). When a call fails:

- a device error that leaves the process unusable raises `FatalDeviceError` (the worker
  ends the process; the jobs are redelivered);
- a call holding several jobs is split in two and each half tried again, down to single
  jobs, so a failure ends with the job that caused it and the others still complete;
- a single job that ran out of memory is split into smaller calls of its own images, down to
  one image; out of memory at one image is its `Failed(out_of_memory=True)`;
- any other failure of a single job is its `Failed`.

Runs in the render thread (it blocks on the model).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from prometheus_client import Counter, Histogram

from atelier.inference.faults import (
    FatalDeviceError,
    is_fatal_device_error,
    is_out_of_memory,
    release_memory,
)
from atelier.inference.jobs import BadRequest, RenderedFile, Renderer, RenderJob
from atelier.inference.progress import GenerationInterrupted, part_hooks, share_of_job

log = logging.getLogger(__name__)

CALL_IMAGES = Histogram(
    "atelier_generation_call_images",
    "Images (or videos) made by one pipeline call, over every job it held",
    ["model"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24),
)
CALL_JOBS = Histogram(
    "atelier_generation_call_jobs",
    "Jobs sharing one pipeline call",
    ["model"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16),
)
SPLITS = Counter(
    "atelier_generation_splits_total",
    "Pipeline calls that failed and were tried again smaller, by why",
    ["model", "why"],
)


@dataclass(frozen=True)
class Rendered:
    files: list[RenderedFile]


@dataclass(frozen=True)
class Stopped:
    """Cancelled: at this step of the job (None: before it started)."""

    at_step: int | None


@dataclass(frozen=True)
class Failed:
    error: BaseException
    out_of_memory: bool = False


JobOutcome = Rendered | Stopped | Failed


@dataclass(frozen=True)
class _Part:
    """Images first … first + count - 1 of job `job` (an index into the group)."""

    job: int
    first: int
    count: int


def plan(counts: Sequence[int], capacity: int) -> list[list[_Part]]:
    """The calls that make jobs of `counts` images: whole jobs packed in order while they fit
    in `capacity` images; a job bigger than that alone, in parts of `capacity`."""
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    calls: list[list[_Part]] = []
    current: list[_Part] = []
    room = capacity
    for job, count in enumerate(counts):
        if count > capacity:
            calls += [
                [_Part(job, first, min(capacity, count - first))]
                for first in range(0, count, capacity)
            ]
            continue
        if count > room:
            calls.append(current)
            current, room = [], capacity
        current.append(_Part(job, 0, count))
        room -= count
    if current:
        calls.append(current)
    return [call for call in calls if call]


def halves(call: list[_Part], out_of_memory: bool) -> list[list[_Part]] | None:
    """A failed call in two smaller ones: its jobs in two groups of about as many images; a
    single job's images in two halves when it ran out of memory. None: nothing smaller to
    try (the failure is the job's own)."""
    if len(call) > 1:
        total, seen, cut = sum(part.count for part in call), 0, 0
        while cut < len(call) - 1 and (seen + call[cut].count) * 2 <= total:
            seen += call[cut].count
            cut += 1
        cut = max(cut, 1)
        return [call[:cut], call[cut:]]
    (part,) = call
    if out_of_memory and part.count > 1:
        half = part.count // 2
        return [
            [_Part(part.job, part.first, half)],
            [_Part(part.job, part.first + half, part.count - half)],
        ]
    return None


def render_jobs(
    renderer: Renderer, jobs: Sequence[RenderJob], *, capacity: int, device: str
) -> list[JobOutcome]:
    """Each job's outcome, rendering them together (see the module's docstring)."""
    outcomes: list[JobOutcome | None] = [None] * len(jobs)
    files: list[list[RenderedFile]] = [[] for _ in jobs]
    calls = deque(plan([job.image_count for job in jobs], capacity))
    while calls:
        call = [part for part in calls.popleft() if outcomes[part.job] is None]
        if not call:
            continue
        try:
            results = _render(renderer, jobs, call)
            if len(results) != len(call):
                raise RuntimeError(f"{len(results)} results for {len(call)} jobs")
        except GenerationInterrupted as stopped:  # raised, not returned: every job stopped
            results = [stopped] * len(call)
        except Exception as error:
            smaller = _after_failure(renderer.model, call, error, device)
            if smaller is not None:
                calls.extendleft(reversed(smaller))
            else:
                outcomes[call[0].job] = Failed(error, is_out_of_memory(error))
            continue
        for part, result in zip(call, results, strict=True):
            if isinstance(result, GenerationInterrupted):
                images = jobs[part.job].image_count
                at = share_of_job(
                    part.first, part.count, images, result.steps_done, result.total_steps
                )
                outcomes[part.job] = Stopped(at)
            else:
                files[part.job] += result
    return [
        outcome if outcome is not None else Rendered(sorted(made, key=lambda f: f.index))
        for outcome, made in zip(outcomes, files, strict=True)
    ]


def _render(renderer: Renderer, jobs: Sequence[RenderJob], call: list[_Part]) -> list:
    parts = []
    for part in call:
        job = jobs[part.job]
        hooks = part_hooks(job.hooks, part.first, part.count, job.image_count)
        parts.append(replace(job, first=job.first + part.first, count=part.count, hooks=hooks))
    CALL_IMAGES.labels(renderer.model).observe(sum(part.count for part in call))
    CALL_JOBS.labels(renderer.model).observe(len(call))
    return renderer.render_batch(parts)


def _after_failure(
    model: str, call: list[_Part], error: Exception, device: str
) -> list[list[_Part]] | None:
    """The smaller calls to try after `call` failed with `error`, or None."""
    if is_fatal_device_error(error):
        raise FatalDeviceError(f"{type(error).__name__}: {error}") from error
    out_of_memory = is_out_of_memory(error)
    if out_of_memory:
        release_memory(device)
    if isinstance(error, BadRequest) and len(call) == 1:
        return None
    smaller = halves(call, out_of_memory)
    if smaller is not None:
        why = "out_of_memory" if out_of_memory else "error"
        SPLITS.labels(model, why).inc()
        log.warning(
            "a pipeline call failed; trying it smaller",
            extra={
                "why": why,
                "error": f"{type(error).__name__}: {error}"[:500],
                "jobs": len(call),
                "images": sum(part.count for part in call),
                "calls": [sum(part.count for part in half) for half in smaller],
            },
        )
    return smaller
