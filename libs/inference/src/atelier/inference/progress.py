"""Step progress and previews: what a pipeline call reports and obeys after each denoising
step (`StepHooks`), and where the worker sends it (`published_hooks`: core NATS).

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from PIL import Image

from atelier.contracts import subjects
from atelier.contracts.progress import StepProgress

#: Called after each denoising step with (steps done, steps in total).
StepCallback = Callable[[int, int], None]
#: Polled after each denoising step; True asks the generation to stop.
StopCheck = Callable[[], bool]
#: `on_preview(step, image)`: a small picture of the result so far.
PreviewCallback = Callable[[int, Image.Image], None]
#: `on_stop(done, total)`: the call stopped making the job's images after `done` steps
#: (the call itself may go on for other jobs).
StopNotice = Callable[[int, int], None]


class GenerationInterrupted(Exception):
    """A generation was stopped on request (`should_stop`) before it finished."""

    def __init__(self, steps_done: int = 0, total_steps: int = 0) -> None:
        super().__init__(f"generation interrupted after {steps_done} of {total_steps} steps")
        self.steps_done = steps_done
        self.total_steps = total_steps


#: Linear map from SDXL's 4 latent channels to RGB: a preview without running the VAE.
_SDXL_LATENT_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)


def latent_preview(latents: Any, max_side: int = 64) -> Image.Image:
    """A rough RGB picture of the first item of a batch of latents (4-channel SDXL latents
    through SDXL's linear factors; other latents through their first three channels; a
    video's middle frame)."""
    import torch

    latent = latents[0].detach().float().cpu()
    if latent.ndim == 4:  # (channels, frames, height, width)
        latent = latent[:, latent.shape[1] // 2]
    if latent.shape[0] == 4:
        rgb = torch.einsum("chw,cr->rhw", latent, torch.tensor(_SDXL_LATENT_RGB))
    else:
        rgb = latent[:3]
    rgb = (rgb - rgb.amin()) / (rgb.amax() - rgb.amin() + 1e-6)
    pixels = (rgb.permute(1, 2, 0).numpy() * 255).astype("uint8")
    image = Image.fromarray(pixels)
    image.thumbnail((max_side, max_side))
    return image


@dataclass(frozen=True)
class StepHooks:
    """What a pipeline call reports and obeys after each denoising step (the call's step
    callback is `atelier.inference.batch_steps.BatchSteps`).

    `on_step(done, total)` gets the number of steps the pipeline actually runs
    (`pipe._num_timesteps`); `on_preview(step, image)` gets a small picture made from the
    latents every `preview_every` steps and at the last; when `should_stop()` is true the
    job's images leave the call at once (no partial result is decoded by the VAE) and
    `on_stop(done, total)` is told so, before the call ends.
    """

    on_step: StepCallback | None = None
    should_stop: StopCheck | None = None
    on_preview: PreviewCallback | None = None
    on_stop: StopNotice | None = None
    preview_every: int = 5


#: No progress, no previews, never stops: the default of the pipelines' `hooks`.
NO_HOOKS = StepHooks()


def share_of_job(first: int, count: int, images: int, done: int, total: int) -> int:
    """The steps a job of `images` images has done when the call making its images
    first … first + count - 1 (after the earlier ones) has done `done` of `total` steps."""
    return (first * total + done * count) // images


def part_hooks(hooks: StepHooks, first: int, count: int, images: int) -> StepHooks:
    """The hooks of one of several calls that make a job's images (first … first + count - 1
    of `images`, in order): each call's steps are reported as the job's share of them, so
    the job's progress rises to the total once over all its calls."""
    if (first, count) == (0, images):
        return hooks
    last_total = [1]

    def on_step(done: int, total: int) -> None:
        last_total[0] = total
        if hooks.on_step is not None:
            hooks.on_step(share_of_job(first, count, images, done, total), total)

    def on_preview(step: int, image: Image.Image) -> None:
        if hooks.on_preview is not None:
            hooks.on_preview(share_of_job(first, count, images, step, last_total[0]), image)

    def on_stop(done: int, total: int) -> None:
        if hooks.on_stop is not None:
            hooks.on_stop(share_of_job(first, count, images, done, total), total)

    return StepHooks(
        on_step=on_step,
        should_stop=hooks.should_stop,
        on_preview=on_preview if hooks.on_preview is not None else None,
        on_stop=on_stop if hooks.on_stop is not None else None,
        preview_every=hooks.preview_every,
    )


def run_interruptible(pipe: Any, call: Callable[[], Any]) -> Any:
    """Run `call()` (one pipeline call made with a `step_callback`), freeing the offload hooks
    of `pipe` when the call is interrupted, and turn a call that diffusers' own interrupt flag
    ended early into `GenerationInterrupted` instead of returning partial output."""
    try:
        result = call()
    except GenerationInterrupted:
        free = getattr(pipe, "maybe_free_model_hooks", None)
        if free is not None:
            free()
        raise
    if getattr(pipe, "_interrupt", False):
        total = int(getattr(pipe, "_num_timesteps", 0) or 0)
        raise GenerationInterrupted(total, total)
    return result


def published_hooks(
    nc: NATS,
    user_id: uuid.UUID,
    job_id: uuid.UUID,
    steps: int,
    should_stop: StopCheck,
    on_stop: StopNotice | None = None,
) -> StepHooks:
    """Hooks for a job's render thread: each step, and every few steps a WebP preview, goes
    out as `StepProgress` on core NATS (`atelier.progress.{user}.{job}`; ephemeral, never on
    the log); `should_stop` is polled after each step, `on_stop` told when the job left
    its call. Made on the event loop, to which the render thread hands each message."""
    loop = asyncio.get_running_loop()
    subject = subjects.progress(user_id, job_id)
    last_total = [steps]

    def send(step: int, total: int, preview: str | None = None) -> None:
        progress = StepProgress(
            job_id=job_id,
            step=step,
            total=total,
            percent=round(100.0 * step / total, 1),
            preview_webp_base64=preview,
        )
        payload = progress.model_dump_json().encode()
        asyncio.run_coroutine_threadsafe(nc.publish(subject, payload), loop)

    def on_step(step: int, total: int) -> None:
        last_total[0] = total
        send(step, total)

    def on_preview(step: int, image: Image.Image) -> None:
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=60)
        send(step, last_total[0], base64.b64encode(out.getvalue()).decode())

    return StepHooks(
        on_step=on_step, should_stop=should_stop, on_preview=on_preview, on_stop=on_stop
    )
