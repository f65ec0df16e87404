"""Warm start: a GPU service renders its preset shapes once before it takes any job, so that
no user's job pays for compiling the model (TORCH_COMPILE), tuning kernels or growing the
allocator's pools. Until it is done the `warm-up` check keeps /readyz unready and says what
is being warmed ("warming sdxl 1024x1024 25 steps (2 of 3)").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from atelier.contracts.generation import MAX_IMAGES, GenerationSpec
from atelier.inference.faults import (
    FatalDeviceError,
    is_fatal_device_error,
    is_out_of_memory,
    release_memory,
)
from atelier.inference.jobs import Renderer, RenderJob
from atelier.inference.progress import GenerationInterrupted, StepHooks

log = logging.getLogger(__name__)


class WarmupShape(BaseModel):
    """One call to make before taking jobs: a preset at a size (and a batch of `images`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(ge=64, le=2048, multiple_of=8)
    height: int = Field(ge=64, le=2048, multiple_of=8)
    steps: int = Field(ge=1, le=100)
    guidance_scale: float = Field(ge=0.0, le=20.0)
    #: Frames of a video (Wan); None: an image.
    num_frames: int | None = Field(default=None, ge=1, le=129)
    images: int = Field(default=1, ge=1, le=64)

    def describe(self, model: str) -> str:
        frames = f"x{self.num_frames}" if self.num_frames else ""
        batch = f", {self.images} at once" if self.images > 1 else ""
        return f"{model} {self.width}x{self.height}{frames} {self.steps} steps{batch}"

    def jobs(self, model: str, hooks: StepHooks) -> list[RenderJob]:
        """Render jobs making `images` images at this shape (as many specs as it takes)."""
        video = self.num_frames is not None and self.num_frames > 1
        jobs = []
        for first in range(0, self.images, MAX_IMAGES):
            spec = GenerationSpec(
                model=model,  # type: ignore[arg-type]
                mode="video" if video else "image",
                quality="high",
                prompt="warm-up: a lighthouse on a cliff at dusk",
                negative_prompt="blurry",
                num_images=min(MAX_IMAGES, self.images - first),
                seed=first,
                width=self.width,
                height=self.height,
                steps=self.steps,
                guidance_scale=self.guidance_scale,
                num_frames=self.num_frames if video else None,
                fps=16 if video else None,
            )
            jobs.append(RenderJob(spec=spec, images={}, hooks=hooks))
        return jobs


class Warmup:
    """Renders `shapes` in order; `check` is the /readyz check, `fits` the largest batch that
    fitted in memory (None: every shape did)."""

    def __init__(self, renderer: Renderer, shapes: Sequence[WarmupShape]) -> None:
        self.renderer = renderer
        self.shapes = list(shapes)
        self.current: int | None = None
        self.finished = not self.shapes
        self.fits: int | None = None

    async def check(self) -> None:
        if self.finished:
            return
        if self.current is None:
            raise RuntimeError("warm-up not started")
        shape = self.shapes[self.current]
        where = f"({self.current + 1} of {len(self.shapes)})"
        raise RuntimeError(f"warming {shape.describe(self.renderer.model)} {where}")

    async def run(self, stop: asyncio.Event) -> bool:
        """Warm every shape (in the render thread); False when `stop` came first."""
        hooks = StepHooks(should_stop=stop.is_set)
        started = time.perf_counter()
        for index, shape in enumerate(self.shapes):
            self.current = index
            if not await asyncio.to_thread(self._warm, shape, hooks):
                return False
        self.finished = True
        log.info(
            "warm-up done",
            extra={
                "shapes": [shape.describe(self.renderer.model) for shape in self.shapes],
                "seconds": round(time.perf_counter() - started, 1),
                "max_batch_fitted": self.fits,
            },
        )
        return True

    def _warm(self, shape: WarmupShape, hooks: StepHooks) -> bool:
        """Render `shape`; a batch that runs out of memory is halved until it fits (and
        remembered in `fits`). Out of memory at one image is an error: the device cannot make
        the service's own presets."""
        while True:
            started = time.perf_counter()
            try:
                jobs = shape.jobs(self.renderer.model, hooks)
                results = self.renderer.render_batch(jobs)
            except Exception as error:
                if is_fatal_device_error(error):
                    raise FatalDeviceError(f"{type(error).__name__}: {error}") from error
                if not is_out_of_memory(error) or shape.images == 1:
                    raise
                release_memory(self.renderer.pipeline.device)
                log.warning(
                    "warm-up: a batch ran out of memory; halving it",
                    extra={"shape": shape.describe(self.renderer.model)},
                )
                shape = shape.model_copy(update={"images": shape.images // 2})
                self.fits = shape.images
                continue
            if any(isinstance(result, GenerationInterrupted) for result in results):
                return False
            log.info(
                "warmed",
                extra={
                    "shape": shape.describe(self.renderer.model),
                    "seconds": round(time.perf_counter() - started, 2),
                },
            )
            return True
