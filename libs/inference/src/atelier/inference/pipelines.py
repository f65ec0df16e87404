"""What the GPU services' pipeline classes share: the device, dtype and memory the worker
reports, and pipeline calls made one at a time, each holding one job's images or several
jobs' (`BatchPart`), each job stoppable after any step.

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from PIL import Image, ImageOps

from atelier.inference.batch_steps import BatchSteps, RowRule
from atelier.inference.device import module_memory_bytes
from atelier.inference.progress import NO_HOOKS, GenerationInterrupted, StepHooks, run_interruptible
from atelier.inference.stepcache import DeepCache, UnsupportedStepCache, reset_caches

log = logging.getLogger(__name__)

#: Per-image width x height above which the VAE decodes in tiles (its memory then stays
#: bounded whatever the size); the native sizes (SDXL 1024x1024, Wan 832x480) decode whole.
DEFAULT_VAE_TILING_ABOVE = 1024 * 1024


class CallShape(TypedDict):
    """What every image of a batched call shares, whichever job it is for: the size, the
    steps and the guidance."""

    width: int
    height: int
    steps: int
    guidance_scale: float


class CallArguments(CallShape):
    """The keyword arguments every generation call of a GPU service takes, whatever the
    model: a job's spec (`RenderJob.arguments`), a test's or a benchmark's call."""

    prompt: str
    negative_prompt: str | None
    seed: int
    #: Progress, previews and the stop check; no hooks when left out.
    hooks: NotRequired[StepHooks]


def shape_of(arguments: CallArguments) -> CallShape:
    """The shape of a single job's call: what a batched call of it takes besides its part."""
    return CallShape(
        width=arguments["width"],
        height=arguments["height"],
        steps=arguments["steps"],
        guidance_scale=arguments["guidance_scale"],
    )


@dataclass(frozen=True)
class BatchPart:
    """One job's share of a batched call: its prompts, the seed of its first image (image i
    is seeded seed + i), how many images, its hooks and (img2img, image-to-video) its image."""

    prompt: str
    negative_prompt: str | None
    seed: int
    count: int = 1
    hooks: StepHooks = NO_HOOKS
    image: Image.Image | None = None

    @classmethod
    def of(cls, arguments: CallArguments, count: int = 1, **extra: Any) -> BatchPart:
        """The part of a single job's call arguments."""
        return cls(
            prompt=arguments["prompt"],
            negative_prompt=arguments["negative_prompt"],
            seed=arguments["seed"],
            count=count,
            hooks=arguments.get("hooks", NO_HOOKS),
            **extra,
        )


#: Each part's outputs (images, or videos as lists of frames), or its interruption.
PartResults = list[list[Any] | GenerationInterrupted]


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` as RGB, scaled and centre-cropped to width x height (no distortion): how a
    reference image or a video's frame enters a pipeline."""
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)


def generators(parts: Sequence[BatchPart]) -> list[Any]:
    """One CPU generator per image, image i of a part seeded with its seed + i: the initial
    noise of an image depends on its own seed only, whatever the batch and the device."""
    import torch

    return [
        torch.Generator(device="cpu").manual_seed(part.seed + i)
        for part in parts
        for i in range(part.count)
    ]


def only_part(results: PartResults) -> list[Any]:
    """The outputs of a call holding one part; raises its interruption."""
    (result,) = results
    if isinstance(result, GenerationInterrupted):
        raise result
    return result


class LoadedPipelines:
    """One or more diffusers pipelines on one device (`pipes`: those whose weights count;
    None for one that is not loaded).

    `device` and `dtype` are what the denoiser's weights really are (`requested_device` and
    `requested_dtype`: what the settings asked for). Calls are serialised by a lock: a
    pipeline object holds per-call state.
    """

    #: What `enable_step_cache` turned on ("none" until it is called).
    step_cache = "none"

    def __init__(self, *pipes: Any, device: str, dtype: Any) -> None:
        self.requested_device = device
        self.requested_dtype = dtype
        self.memory_bytes = module_memory_bytes(*(pipe for pipe in pipes if pipe is not None))
        #: Per-image width x height above which the VAE decodes in tiles; None: never.
        self.vae_tiling_above: int | None = DEFAULT_VAE_TILING_ABOVE
        self._deep_cache: DeepCache | None = None
        self._lock = threading.Lock()

    def denoiser(self) -> Any:
        """The module doing the denoising (a UNet or a transformer); subclasses name it."""
        return None

    def enable_step_cache(self, kind: str, *, interval: int = 3, threshold: float = 0.05) -> None:
        """Turn on the step cache `kind` (see `atelier.inference.stepcache`); subclasses say
        which they take and raise `UnsupportedStepCache` for the others."""
        if kind != "none":
            raise UnsupportedStepCache(f"{type(self).__name__} takes no step cache")

    def disable_step_cache(self) -> None:
        """Turn the step cache off (benchmarks compare with and without)."""
        if self._deep_cache is not None:
            self._deep_cache.remove()
            self._deep_cache = None
        for module in self._cached_modules():
            module.disable_cache()
        self.step_cache = "none"

    def _cached_modules(self) -> list[Any]:
        """Modules with a diffusers cache on; subclasses list theirs."""
        return []

    def try_step_cache(self, kind: str, **options: Any) -> None:
        """`enable_step_cache`, or, for a cache this model cannot take, none and a warning
        (`step_cache` then says why)."""
        try:
            self.enable_step_cache(kind, **options)
        except UnsupportedStepCache as why:
            log.warning("step cache not applied", extra={"asked": kind, "why": str(why)})
            self.step_cache = f"none ({kind} unsupported: {why})"

    def compile(self, mode: str | None = None) -> None:
        """Compile the denoiser (what TORCH_COMPILE does); subclasses say how."""
        raise NotImplementedError(f"{type(self).__name__} cannot compile")

    def speed_up(self, step_cache: str, *, compile: bool, **cache_options: Any) -> None:
        """What the STEP_CACHE and TORCH_COMPILE settings ask for at load, in this order: how
        the denoiser is compiled depends on the step cache."""
        self.try_step_cache(step_cache, **cache_options)
        if compile:
            self.compile()

    @property
    def device(self) -> str:
        """Where the denoiser's weights are (e.g. "cuda:0", "cpu")."""
        parameter = self._first_parameter()
        return self.requested_device if parameter is None else str(parameter.device)

    @property
    def dtype(self) -> Any:
        """The dtype of the denoiser's weights."""
        parameter = self._first_parameter()
        return self.requested_dtype if parameter is None else parameter.dtype

    def _first_parameter(self) -> Any:
        module = self.denoiser()
        if module is None:
            return None
        return next(iter(module.parameters()), None)

    def _single(
        self,
        batch: Callable[..., PartResults],
        arguments: CallArguments,
        count: int = 1,
        *,
        part_image: Image.Image | None = None,
        **options: Any,
    ) -> list[Any]:
        """One job's `count` outputs, made by the batch method `batch` with the job as its
        only part (`part_image`: its `BatchPart.image`; `options`: what `batch` takes besides
        the parts and the shape); raises the job's interruption. A job alone is a batch of
        one, so that both take the same path."""
        if count < 1:
            raise ValueError("num_images must be at least 1")
        part = BatchPart.of(arguments, count, image=part_image)
        return only_part(batch([part], **shape_of(arguments), **options))

    def _call_batch(
        self,
        pipe: Any,
        parts: Sequence[BatchPart],
        steps: int,
        *,
        rules: Mapping[str, RowRule],
        outputs: Callable[[Any], Sequence[Any]],
        pixels: int,
        **kwargs: Any,
    ) -> PartResults:
        """`pipe(**kwargs)` with PIL output for the images of `parts` (in order: each image
        its part's prompt and its own generator), each part's hooks called after each of its
        `steps` steps; a part whose hooks ask it to stop leaves the batch (`rules`: the
        callback tensors whose rows follow the batch) and gets its `GenerationInterrupted`.
        `outputs(result)`: the call's outputs, one per image; `pixels`: width x height of one
        image (VAE tiling above `vae_tiling_above`)."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if not parts or any(part.count < 1 for part in parts):
            raise ValueError("a batch needs parts of at least one image each")
        seeded = generators(parts)
        stepper = BatchSteps(
            [(part.hooks, part.count) for part in parts],
            steps,
            rules=rules,
            generators=seeded,
            on_drop=lambda: reset_caches(pipe, self._deep_cache),
        )
        kwargs |= {
            "prompt": [part.prompt for part in parts for _ in range(part.count)],
            "generator": seeded,
            "num_inference_steps": steps,
            "output_type": "pil",
            "callback_on_step_end": stepper,
            "callback_on_step_end_tensor_inputs": stepper.tensor_inputs,
        }
        with self._lock:
            reset_caches(pipe, self._deep_cache)
            self._tile_vae(pipe, pixels)
            try:
                result = run_interruptible(pipe, lambda: pipe(**kwargs))
            except GenerationInterrupted as stopped:
                return list(stepper.interrupted(stopped))
        return stepper.results(outputs(result))

    def _tile_vae(self, pipe: Any, pixels: int) -> None:
        vae = getattr(pipe, "vae", None)
        if vae is None or not hasattr(vae, "enable_tiling"):
            return
        if self.vae_tiling_above is not None and pixels > self.vae_tiling_above:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
