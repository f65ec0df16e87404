"""SDXL text-to-image and image-to-image on one set of weights (diffusers).

`SdxlPipeline.load` takes what `StableDiffusionXLPipeline.from_pretrained` takes: a hub id such
as `stabilityai/stable-diffusion-xl-base-1.0` or a local diffusers folder (the tiny offline
model of `atelier.gpu_sdxl.tiny_model` in tests).
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps

from atelier.runtime.accelerator import (
    NO_HOOKS,
    GenerationInterrupted,
    StepHooks,
    choose_device,
    choose_dtype,
    module_memory_bytes,
    run_interruptible,
)

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

__all__ = ["GenerationInterrupted", "SdxlPipeline"]


class SdxlPipeline:
    """One loaded SDXL model: `generate` (text-to-image) and `img2img` share its weights.

    Calls are serialised by a lock: a pipeline object holds per-call state.
    """

    def __init__(
        self,
        text2img: StableDiffusionXLPipeline,
        img2img: StableDiffusionXLImg2ImgPipeline,
        device: str,
        dtype: torch.dtype,
    ) -> None:
        self._text2img = text2img
        self._img2img = img2img
        self.device = device
        self.dtype = dtype
        self.memory_bytes = module_memory_bytes(text2img, img2img)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        *,
        compile_unet: bool = False,
        channels_last: bool = False,
    ) -> SdxlPipeline:
        import torch
        from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

        chosen_device = choose_device(device)
        chosen_dtype = choose_dtype(dtype, chosen_device)
        text2img = StableDiffusionXLPipeline.from_pretrained(str(model), dtype=chosen_dtype)
        text2img.to(chosen_device)
        if chosen_device.startswith("cuda"):
            from diffusers.models.attention_processor import AttnProcessor2_0

            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            text2img.unet.set_attn_processor(AttnProcessor2_0())  # SDPA (flash/mem-efficient)
        if channels_last:
            text2img.unet.to(memory_format=torch.channels_last)
            text2img.vae.to(memory_format=torch.channels_last)
        if compile_unet:
            text2img.unet = torch.compile(text2img.unet, mode="max-autotune", fullgraph=True)
        text2img.set_progress_bar_config(disable=True)
        img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(text2img)
        img2img.set_progress_bar_config(disable=True)
        return cls(text2img, img2img, chosen_device, chosen_dtype)

    def _generators(self, seed: int, count: int) -> list[torch.Generator]:
        """One CPU generator per image, image i seeded with seed + i: the initial noise of an
        image depends on its own seed only, whatever the batch and the device."""
        import torch

        return [torch.Generator(device="cpu").manual_seed(seed + i) for i in range(count)]

    def _run(
        self,
        pipe: Any,
        *,
        prompt: str,
        negative_prompt: str | None,
        num_images: int,
        seed: int,
        steps: int,
        guidance_scale: float,
        hooks: StepHooks,
        **extra: Any,
    ) -> list[Image.Image]:
        if num_images < 1:
            raise ValueError("num_images must be at least 1")
        if steps < 1:
            raise ValueError("steps must be at least 1")
        kwargs: dict[str, Any] = {
            "prompt": [prompt] * num_images,
            "negative_prompt": [negative_prompt] * num_images if negative_prompt else None,
            "num_inference_steps": steps,
            "guidance_scale": guidance_scale,
            "generator": self._generators(seed, num_images),
            "output_type": "pil",
            "callback_on_step_end": hooks.callback(steps),
            **extra,
        }
        with self._lock:
            result = run_interruptible(pipe, lambda: pipe(**kwargs))
        return list(result.images)

    def generate(
        self,
        *,
        prompt: str,
        negative_prompt: str | None,
        num_images: int,
        seed: int,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        hooks: StepHooks = NO_HOOKS,
    ) -> list[Image.Image]:
        """`num_images` images in one batched call; image i is what seed + i gives alone.

        Raises `GenerationInterrupted` when `hooks.should_stop()` turns true after a step.
        """
        return self._run(
            self._text2img,
            prompt=prompt,
            negative_prompt=negative_prompt,
            num_images=num_images,
            seed=seed,
            steps=steps,
            guidance_scale=guidance_scale,
            hooks=hooks,
            width=width,
            height=height,
        )

    def img2img(
        self,
        *,
        image: Image.Image,
        strength: float,
        prompt: str,
        negative_prompt: str | None,
        num_images: int,
        seed: int,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        hooks: StepHooks = NO_HOOKS,
    ) -> list[Image.Image]:
        """Like `generate`, starting from `image` (scaled and centre-cropped to width x height);
        `strength` in (0, 1] is how much of it is re-noised.

        `steps` is the number of denoising steps that run, as the seed platform's presets
        mean it (exact_copy: 6–10 steps at strength ≤ 0.05): the schedule is stretched to
        steps / strength so that its last `steps` steps are the ones run.
        """
        if not 0.0 < strength <= 1.0:
            raise ValueError("strength must be in (0, 1]")
        source = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
        return self._run(
            self._img2img,
            prompt=prompt,
            negative_prompt=negative_prompt,
            num_images=num_images,
            seed=seed,
            steps=math.ceil(steps / strength - 1e-9),
            guidance_scale=guidance_scale,
            hooks=hooks,
            image=source,
            strength=strength,
        )
