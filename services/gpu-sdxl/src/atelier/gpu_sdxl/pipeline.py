"""SDXL text-to-image and image-to-image on one set of weights (diffusers).

`SdxlPipeline.load` takes what `StableDiffusionXLPipeline.from_pretrained` takes: a hub id such
as `stabilityai/stable-diffusion-xl-base-1.0` or a local diffusers folder (the tiny offline
model of `atelier.gpu_sdxl.tiny_model` in tests). `SdxlPipeline.of` sets up a pipeline already
in memory the same way (what `load` does after reading it; the benchmark builds its own).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Unpack

from PIL import Image

from atelier.inference.device import allow_tf32, on_device, placement
from atelier.inference.pipelines import CallArguments, LoadedPipelines, fit
from atelier.inference.progress import NO_HOOKS, GenerationInterrupted

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

__all__ = ["GenerationInterrupted", "SdxlPipeline"]


class SdxlPipeline(LoadedPipelines):
    """One loaded SDXL model: `generate` (text-to-image) and `img2img` share its weights."""

    def __init__(
        self,
        text2img: StableDiffusionXLPipeline,
        img2img: StableDiffusionXLImg2ImgPipeline,
        device: str,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(text2img, img2img, device=device, dtype=dtype)
        self._text2img = text2img
        self._img2img = img2img

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
        from diffusers import StableDiffusionXLPipeline

        chosen_device, chosen_dtype = placement(device, dtype)
        text2img = StableDiffusionXLPipeline.from_pretrained(str(model), dtype=chosen_dtype)
        pipeline = cls.of(text2img, chosen_device, chosen_dtype, channels_last=channels_last)
        if compile_unet:
            pipeline.compile()
        return pipeline

    @classmethod
    def of(
        cls,
        text2img: StableDiffusionXLPipeline,
        device: str,
        dtype: torch.dtype,
        *,
        channels_last: bool = False,
    ) -> SdxlPipeline:
        """`text2img` on `device` as the service runs it: TF32 matmuls and the SDPA attention
        processor on CUDA, channels-last UNet and VAE if asked, no progress bar, and an
        img2img pipeline sharing its weights."""
        import torch
        from diffusers import StableDiffusionXLImg2ImgPipeline

        on_device(text2img, device)
        if device.startswith("cuda"):
            from diffusers.models.attention_processor import AttnProcessor2_0

            allow_tf32(device)
            text2img.unet.set_attn_processor(AttnProcessor2_0())  # SDPA (flash/mem-efficient)
        if channels_last:
            text2img.unet.to(memory_format=torch.channels_last)
            text2img.vae.to(memory_format=torch.channels_last)
        img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(text2img)
        img2img.set_progress_bar_config(disable=True)
        return cls(text2img, img2img, device, dtype)

    def compile(self, mode: str | None = None) -> None:
        """Compile the UNet both pipelines share, whole-graph, in `mode` (max-autotune unless
        told otherwise): what the TORCH_COMPILE setting does at load."""
        import torch

        unet = torch.compile(self._text2img.unet, mode=mode or "max-autotune", fullgraph=True)
        self._text2img.unet = self._img2img.unet = unet

    def _generators(self, seed: int, count: int) -> list[torch.Generator]:
        """One CPU generator per image, image i seeded with seed + i: the initial noise of an
        image depends on its own seed only, whatever the batch and the device."""
        import torch

        return [torch.Generator(device="cpu").manual_seed(seed + i) for i in range(count)]

    def _images(
        self, pipe: Any, num_images: int, arguments: CallArguments, **extra: Any
    ) -> list[Image.Image]:
        if num_images < 1:
            raise ValueError("num_images must be at least 1")
        negative_prompt = arguments["negative_prompt"]
        result = self._call(
            pipe,
            arguments.get("hooks", NO_HOOKS),
            arguments["steps"],
            prompt=[arguments["prompt"]] * num_images,
            negative_prompt=[negative_prompt] * num_images if negative_prompt else None,
            guidance_scale=arguments["guidance_scale"],
            generator=self._generators(arguments["seed"], num_images),
            **extra,
        )
        return list(result.images)

    def generate(self, *, num_images: int, **arguments: Unpack[CallArguments]) -> list[Image.Image]:
        """`num_images` images in one batched call; image i is what seed + i gives alone.

        Raises `GenerationInterrupted` when `hooks.should_stop()` turns true after a step.
        """
        size = {"width": arguments["width"], "height": arguments["height"]}
        return self._images(self._text2img, num_images, arguments, **size)

    def img2img(
        self,
        *,
        image: Image.Image,
        strength: float,
        num_images: int,
        **arguments: Unpack[CallArguments],
    ) -> list[Image.Image]:
        """Like `generate`, starting from `image` (scaled and centre-cropped to width x height);
        `strength` in (0, 1] is how much of it is re-noised.

        `steps` is the number of denoising steps that run, as the seed platform's presets
        mean it (exact_copy: 6–10 steps at strength ≤ 0.05): the schedule is stretched to
        steps / strength so that its last `steps` steps are the ones run.
        """
        if not 0.0 < strength <= 1.0:
            raise ValueError("strength must be in (0, 1]")
        source = fit(image, arguments["width"], arguments["height"])
        stretched = arguments | {"steps": math.ceil(arguments["steps"] / strength - 1e-9)}
        return self._images(self._img2img, num_images, stretched, image=source, strength=strength)
