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
    """What a pipeline call reports and obeys after each denoising step.

    `on_step(done, total)` gets the number of steps the pipeline actually runs
    (`pipe._num_timesteps`); `on_preview(step, image)` gets a small picture made from the
    latents every `preview_every` steps and at the last; when `should_stop()` is true the
    call sets diffusers' interrupt flag and raises `GenerationInterrupted` at once, so no
    partial result is decoded by the VAE.
    """

    on_step: StepCallback | None = None
    should_stop: StopCheck | None = None
    on_preview: PreviewCallback | None = None
    preview_every: int = 5

    def callback(self, total_steps: int) -> Callable[[Any, int, Any, dict[str, Any]], dict]:
        """A diffusers `callback_on_step_end` for one call of `total_steps` steps."""

        def callback(pipe: Any, step_index: int, timestep: Any, kwargs: dict[str, Any]):
            total = int(getattr(pipe, "_num_timesteps", 0) or total_steps)
            done = step_index + 1
            if self.on_step is not None:
                self.on_step(done, total)
            wants_preview = done % self.preview_every == 0 or done == total
            if self.on_preview is not None and wants_preview and "latents" in kwargs:
                self.on_preview(done, latent_preview(kwargs["latents"]))
            if self.should_stop is not None and self.should_stop():
                pipe._interrupt = True
                raise GenerationInterrupted(done, total)
            return kwargs

        return callback


#: No progress, no previews, never stops: the default of the pipelines' `hooks`.
NO_HOOKS = StepHooks()


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
    nc: NATS, user_id: uuid.UUID, job_id: uuid.UUID, steps: int, should_stop: StopCheck
) -> StepHooks:
    """Hooks for a job's render thread: each step, and every few steps a WebP preview, goes
    out as `StepProgress` on core NATS (`atelier.progress.{user}.{job}`; ephemeral, never on
    the log); `should_stop` is polled after each step. Made on the event loop, to which the
    render thread hands each message."""
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

    return StepHooks(on_step=on_step, should_stop=should_stop, on_preview=on_preview)
