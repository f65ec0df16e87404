"""SDXL text-to-image and image-to-image on one set of weights (diffusers).

`SdxlPipeline.load` takes what `StableDiffusionXLPipeline.from_pretrained` takes: a hub id such
as `stabilityai/stable-diffusion-xl-base-1.0` or a local diffusers folder (the tiny offline
model of `atelier.gpu_sdxl.tiny_model` in tests). `SdxlPipeline.of` sets up a pipeline already
in memory the same way (what `load` does after reading it; the benchmark builds its own).
`SdxlPipeline.from_settings` loads what the service's settings name, as the service runs it.

One call can hold several jobs (`generate_batch`, `img2img_batch`): their prompts, negative
prompts, seeds and source images differ, their size, steps and guidance (and img2img
strength) do not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

from PIL import Image

from atelier.inference.device import allow_tf32, on_device, placement
from atelier.inference.pipelines import BatchPart, CallArguments, LoadedPipelines, PartResults, fit
from atelier.inference.progress import GenerationInterrupted
from atelier.inference.stepcache import DeepCache, UnsupportedStepCache

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    from atelier.gpu_sdxl.config import SdxlSettings

__all__ = ["GenerationInterrupted", "SdxlPipeline"]

#: The tensors SDXL's step callback may edit, and how their rows follow the batch: prompt
#: embeddings hold every image's unconditional rows, then the conditional ones; the time ids
#: repeat (unconditional, conditional) per image.
SDXL_ROWS = {
    "latents": "rows",
    "prompt_embeds": "rows",
    "add_text_embeds": "rows",
    "add_time_ids": "leading",
}


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
    def from_settings(cls, settings: SdxlSettings) -> SdxlPipeline:
        """The pipeline the service runs: SDXL_MODEL on DEVICE in DTYPE (channels-last if
        CHANNELS_LAST), then what TORCH_COMPILE and STEP_CACHE ask for."""
        pipeline = cls.load(
            settings.model, settings.device, settings.dtype, channels_last=settings.channels_last
        )
        settings.speed_up(pipeline)
        return pipeline

    @classmethod
    def load(
        cls,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        *,
        compile_unet: bool = False,
        channels_last: bool = False,
        step_cache: str = "none",
        step_cache_interval: int = 3,
    ) -> SdxlPipeline:
        """Read the model; `step_cache` "deep" turns on DeepCache (see `enable_step_cache`;
        another cache is reported and left off)."""
        from diffusers import StableDiffusionXLPipeline

        chosen_device, chosen_dtype = placement(device, dtype)
        text2img = StableDiffusionXLPipeline.from_pretrained(str(model), dtype=chosen_dtype)
        pipeline = cls.of(text2img, chosen_device, chosen_dtype, channels_last=channels_last)
        pipeline.speed_up(step_cache, compile=compile_unet, interval=step_cache_interval)
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
        processor on CUDA, channels-last UNet and VAE if asked, a VAE that decodes a batch
        one image at a time (its peak memory does not grow with the batch), no progress bar,
        and an img2img pipeline sharing its weights."""
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
        text2img.vae.enable_slicing()
        # from_pipe casts the weights it shares to `dtype`, float32 when not told: keep theirs
        img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(text2img, dtype=text2img.unet.dtype)
        img2img.set_progress_bar_config(disable=True)
        return cls(text2img, img2img, device, dtype)

    def denoiser(self) -> Any:
        return self._text2img.unet

    def compile(self, mode: str | None = None) -> None:
        """Compile the UNet both pipelines share, whole-graph, in `mode` (max-autotune unless
        told otherwise): what the TORCH_COMPILE setting does at load."""
        import torch

        unet = torch.compile(self._text2img.unet, mode=mode or "max-autotune", fullgraph=True)
        self._text2img.unet = self._img2img.unet = unet
        if self._deep_cache is not None:
            self._deep_cache.attach(unet)  # decide full or cached outside the graph

    def enable_step_cache(self, kind: str, *, interval: int = 3, threshold: float = 0.05) -> None:
        """ "deep": DeepCache on the UNet, a full step every `interval` steps ("none": nothing).
        Raises `UnsupportedStepCache` for caches that need a transformer ("first_block")."""
        if kind == "none":
            return
        if kind != "deep":
            raise UnsupportedStepCache(f"SDXL's UNet takes the 'deep' step cache, not {kind!r}")
        if self._deep_cache is not None:
            raise ValueError("a step cache is already on")
        self._deep_cache = DeepCache(self._text2img.unet, interval=interval)
        self.step_cache = f"deep (a full step every {interval})"

    def generate_batch(
        self,
        parts: Sequence[BatchPart],
        *,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
    ) -> PartResults:
        """The images of every part in one batched call (image i of a part is what its seed + i
        gives alone), or the interruption of a part whose hooks stopped it."""
        size = {"width": width, "height": height}
        return self._batch(self._text2img, parts, steps, guidance_scale, width * height, **size)

    def img2img_batch(
        self,
        parts: Sequence[BatchPart],
        *,
        strength: float,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
    ) -> PartResults:
        """Like `generate_batch`, each part starting from its `image` (scaled and
        centre-cropped to width x height); `strength` in (0, 1] is how much of it is
        re-noised.

        `steps` is the number of denoising steps that run, as the seed platform's presets
        mean it (exact_copy: 6–10 steps at strength ≤ 0.05): the schedule is stretched to
        steps / strength so that its last `steps` steps are the ones run.
        """
        if not 0.0 < strength <= 1.0:
            raise ValueError("strength must be in (0, 1]")
        sources = []
        for part in parts:
            if part.image is None:
                raise ValueError("img2img needs an image for every part")
            sources += [fit(part.image, width, height)] * part.count
        return self._batch(
            self._img2img,
            parts,
            math.ceil(steps / strength - 1e-9),
            guidance_scale,
            width * height,
            image=sources,
            strength=strength,
        )

    def generate(self, *, num_images: int, **arguments: Unpack[CallArguments]) -> list[Image.Image]:
        """`num_images` images in one batched call; image i is what seed + i gives alone.

        Raises `GenerationInterrupted` when `hooks.should_stop()` turns true after a step.
        """
        return self._single(self.generate_batch, arguments, num_images)

    def img2img(
        self,
        *,
        image: Image.Image,
        strength: float,
        num_images: int,
        **arguments: Unpack[CallArguments],
    ) -> list[Image.Image]:
        """Like `generate`, starting from `image` (see `img2img_batch`)."""
        return self._single(
            self.img2img_batch, arguments, num_images, part_image=image, strength=strength
        )

    def _batch(
        self,
        pipe: Any,
        parts: Sequence[BatchPart],
        steps: int,
        guidance_scale: float,
        pixels: int,
        **extra: Any,
    ) -> PartResults:
        return self._call_batch(
            pipe,
            parts,
            steps,
            rules=SDXL_ROWS,
            outputs=lambda result: result.images,
            pixels=pixels,
            negative_prompt=_negative_prompts(parts),
            guidance_scale=guidance_scale,
            **extra,
        )


def _negative_prompts(parts: Sequence[BatchPart]) -> list[str] | None:
    """One negative prompt per image, or None when no part has one: SDXL then uses zeros,
    not the encoding of an empty prompt, so parts with and without cannot share a call."""
    given = [part.negative_prompt or None for part in parts for _ in range(part.count)]
    if all(negative is None for negative in given):
        return None
    if any(negative is None for negative in given):
        raise ValueError("parts with and without a negative prompt cannot share an SDXL call")
    return given  # type: ignore[return-value]
