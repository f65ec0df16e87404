"""Device and dtype choice, memory accounting, step callbacks and model folders for the GPU
services.

torch is imported inside the functions only, so importing this module never needs torch
(the gateway and the library service import `atelier.runtime` without it).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    import torch

#: Called after each denoising step with (steps done, steps in total).
StepCallback = Callable[[int, int], None]
#: Polled after each denoising step; True asks the generation to stop.
StopCheck = Callable[[], bool]
#: `on_preview(step, image)`: a small picture of the result so far.
PreviewCallback = Callable[[int, Image.Image], None]

_DTYPES = ("float32", "float16", "bfloat16")


class GenerationInterrupted(Exception):
    """A generation was stopped on request (`should_stop`) before it finished."""

    def __init__(self, steps_done: int = 0, total_steps: int = 0) -> None:
        super().__init__(f"generation interrupted after {steps_done} of {total_steps} steps")
        self.steps_done = steps_done
        self.total_steps = total_steps


def choose_device(setting: str = "auto") -> str:
    """`"auto"` gives `"cuda"` when a CUDA device is usable, else `"cpu"`; anything else
    (`"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"`) is returned as given, after checking CUDA exists."""
    import torch

    setting = setting.strip().lower()
    if setting in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} was asked for but CUDA is not available")
    return setting


def choose_dtype(setting: str, device: str) -> torch.dtype:
    """`"auto"`: bfloat16 on CUDA where supported, else float16 on CUDA; float32 elsewhere.
    `"float32"`, `"float16"` and `"bfloat16"` are honoured as given."""
    import torch

    setting = setting.strip().lower()
    if setting in ("", "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if setting not in _DTYPES:
        raise ValueError(f"unknown dtype {setting!r}: expected auto or one of {', '.join(_DTYPES)}")
    return getattr(torch, setting)


def _modules_of(pipeline: Any) -> Iterable[Any]:
    import torch

    if isinstance(pipeline, torch.nn.Module):
        yield pipeline
        return
    components = getattr(pipeline, "components", None)
    if isinstance(components, dict):
        for component in components.values():
            if isinstance(component, torch.nn.Module):
                yield component


def module_memory_bytes(*pipelines: Any) -> int:
    """Bytes held by the parameters and buffers of the `torch.nn.Module` components of one or
    more diffusers pipelines (or bare modules). A tensor shared by several pipelines, as after
    `from_pipe`, or by several components is counted once."""
    seen: set[int] = set()
    total = 0
    for pipeline in pipelines:
        for module in _modules_of(pipeline):
            for tensor in (*module.parameters(), *module.buffers()):
                key = id(tensor)
                if key in seen:
                    continue
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


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


def build_model_dir(target: Path, build: Callable[[Path], None]) -> Path:
    """Create the diffusers folder `target` with `build(staging)` unless it already holds a
    `model_index.json`, and return `target`.

    `build` writes into a temporary sibling folder that is then renamed into place, so a crash
    never leaves a half-written model behind, and of two builders racing each other one wins
    and the other keeps the winner's copy.
    """
    target = Path(target)
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.building-{uuid.uuid4().hex[:12]}"
    try:
        build(staging)
        if not (staging / "model_index.json").exists():
            raise RuntimeError(f"building {target} wrote no model_index.json")
        try:
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            staging.rename(target)
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
