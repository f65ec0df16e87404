"""Wan text-to-video and image-to-video (diffusers `WanPipeline`, `WanImageToVideoPipeline`).

`WanPipelines.load` takes what those pipelines' `from_pretrained` take: hub ids such as
`Wan-AI/Wan2.1-T2V-1.3B-Diffusers` / `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers` or local diffusers
folders (the tiny offline models of `atelier.gpu_wan.tiny_model` in tests).
`WanPipelines.from_settings` loads what the service's settings name, as the service runs them.

First-and-last-frame video (`last_image`) in diffusers 0.42.1 depends on the I2V checkpoint:

* Wan 2.2 I2V (no CLIP image encoder, `transformer.config.image_dim` is None): optional.
* Wan 2.1 FLF2V (image encoder and `pos_embed_seq_len` set): required; it encodes both frames.
* Wan 2.1 I2V (image encoder, no `pos_embed_seq_len`): not supported; diffusers fails with a
  batch size mismatch, so `image_to_video` refuses it with a ValueError up front.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from PIL import Image

from atelier.inference.device import allow_tf32, on_device, placement
from atelier.inference.pipelines import (
    BatchPart,
    CallArguments,
    CallShape,
    LoadedPipelines,
    PartResults,
    fit,
)
from atelier.inference.progress import GenerationInterrupted
from atelier.inference.stepcache import UnsupportedStepCache, enable_first_block_cache

if TYPE_CHECKING:
    import torch
    from diffusers import WanImageToVideoPipeline, WanPipeline

    from atelier.gpu_wan.config import WanSettings

__all__ = ["GenerationInterrupted", "WanPipelines"]

#: Frame rate Wan 2.1 and Wan 2.2 A14B were trained at.
WAN_FPS = 16

#: The tensors Wan's step callback may edit: one row per video each (the unconditional pass
#: is a call of its own).
WAN_ROWS = {"latents": "rows", "prompt_embeds": "rows", "negative_prompt_embeds": "rows"}

#: Components worth sharing between the t2v and i2v pipelines when their configs are equal
#: (the UMT5-XXL text encoder alone is ~11 GB in bfloat16; every Wan 2.1/2.2-A14B release ships
#: the same text encoder and VAE).
_SHARABLE = ("text_encoder", "vae")
_VOLATILE_CONFIG_KEYS = {"transformers_version", "torch_dtype", "dtype", "_name_or_path"}


def _component_config(model: str, name: str) -> dict[str, Any] | None:
    """`<model>/<name>/config.json` of a local folder or a hub repo (None if unavailable)."""
    try:
        if Path(model).is_dir():
            path = Path(model) / name / "config.json"
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model, f"{name}/config.json"))
        config = json.loads(path.read_text(encoding="utf-8"))
    except Exception:
        return None
    return {
        key: value
        for key, value in config.items()
        if key not in _VOLATILE_CONFIG_KEYS and not key.startswith("_diffusers")
    }


class WanPipelines(LoadedPipelines):
    """A Wan text-to-video pipeline and, optionally, an image-to-video one, on one device."""

    fps = WAN_FPS

    def __init__(
        self,
        t2v: WanPipeline,
        i2v: WanImageToVideoPipeline | None,
        device: str,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(t2v, i2v, device=device, dtype=dtype)
        self._t2v = t2v
        self._i2v = i2v

    @classmethod
    def from_settings(cls, settings: WanSettings) -> WanPipelines:
        """The pipelines the service runs: WAN_MODEL and WAN_I2V_MODEL (if set) on DEVICE in
        DTYPE, then what TORCH_COMPILE and STEP_CACHE ask for."""
        pipelines = cls.load(settings.model, settings.i2v_model, settings.device, settings.dtype)
        settings.speed_up(pipelines)
        return pipelines

    @classmethod
    def load(
        cls,
        t2v_model: str,
        i2v_model: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        *,
        share_encoders: bool = True,
        compile_transformer: bool = False,
        step_cache: str = "none",
        step_cache_threshold: float = 0.05,
    ) -> WanPipelines:
        """Load the pipelines. With `share_encoders`, the i2v pipeline reuses the t2v text
        encoder and VAE where their configs are equal (as in all Wan 2.1/2.2-A14B releases)
        instead of holding a second copy. The VAE and the CLIP image encoder stay in float32,
        as diffusers' Wan examples load them. `step_cache` "first_block" turns on diffusers'
        First Block Cache (see `enable_step_cache`)."""
        import torch
        from diffusers import WanImageToVideoPipeline, WanPipeline

        chosen_device, chosen_dtype = placement(device, dtype)
        dtypes: dict[str, torch.dtype] = {"default": chosen_dtype}
        if chosen_dtype != torch.float32:
            dtypes |= {"vae": torch.float32, "image_encoder": torch.float32}

        t2v = WanPipeline.from_pretrained(str(t2v_model), dtype=dtypes)
        # on the device before the i2v pipeline loads: host memory holds one at a time
        on_device(t2v, chosen_device)
        i2v = None
        if i2v_model is not None:
            shared = {}
            if share_encoders:
                for name in _SHARABLE:
                    mine = _component_config(str(i2v_model), name)
                    if mine is not None and mine == _component_config(str(t2v_model), name):
                        shared[name] = getattr(t2v, name)
            i2v = WanImageToVideoPipeline.from_pretrained(str(i2v_model), dtype=dtypes, **shared)
        pipelines = cls.of(t2v, i2v, device=chosen_device, dtype=chosen_dtype)
        pipelines.speed_up(step_cache, compile=compile_transformer, threshold=step_cache_threshold)
        return pipelines

    @classmethod
    def of(
        cls,
        t2v: WanPipeline,
        i2v: WanImageToVideoPipeline | None = None,
        *,
        device: str,
        dtype: torch.dtype,
    ) -> WanPipelines:
        """Pipelines already in memory on `device` as the service runs them: TF32 matmuls on
        CUDA, no progress bars, VAEs that decode a batch one video at a time."""
        allow_tf32(device)
        for pipe in (t2v, i2v):
            if pipe is not None:
                on_device(pipe, device)
                pipe.vae.enable_slicing()
        return cls(t2v, i2v, device, dtype)

    def denoiser(self) -> Any:
        return self._t2v.transformer

    def compile(self, mode: str | None = None) -> None:
        """Compile the text-to-video transformer (in torch's default mode unless told
        otherwise): what the TORCH_COMPILE setting does at load. Whole-graph, except with a
        step cache, whose decision to skip (a comparison of tensors) breaks the graph."""
        import torch

        whole = self.step_cache == "none"
        self._t2v.transformer = torch.compile(self._t2v.transformer, mode=mode, fullgraph=whole)

    def enable_step_cache(self, kind: str, *, interval: int = 3, threshold: float = 0.05) -> None:
        """ "first_block": diffusers' First Block Cache on every transformer, the other blocks
        skipped while the first one's output changes by less than `threshold` ("none":
        nothing). Raises `UnsupportedStepCache` for the UNet's "deep" cache."""
        if kind == "none":
            return
        if kind != "first_block":
            raise UnsupportedStepCache(f"Wan's transformer takes 'first_block', not {kind!r}")
        for module in self._transformers():
            if not module.is_cache_enabled:
                enable_first_block_cache(module, threshold)
        self.step_cache = f"first_block (threshold {threshold:g})"

    def _transformers(self) -> list[Any]:
        found = []
        for pipe in (self._t2v, self._i2v):
            for name in ("transformer", "transformer_2"):
                module = getattr(pipe, name, None) if pipe is not None else None
                if module is not None and module not in found:
                    found.append(module)
        return found

    def _cached_modules(self) -> list[Any]:
        return [module for module in self._transformers() if module.is_cache_enabled]

    # -- capabilities -------------------------------------------------------------------

    @property
    def supports_image_to_video(self) -> bool:
        return self._i2v is not None

    @property
    def supports_last_frame(self) -> bool:
        """Whether `image_to_video` accepts a `last_image`."""
        if self._i2v is None:
            return False
        config = self._i2v.transformer.config
        return config.image_dim is None or config.pos_embed_seq_len is not None

    @property
    def requires_last_frame(self) -> bool:
        """Whether `image_to_video` needs a `last_image` (Wan 2.1 FLF2V checkpoints)."""
        if self._i2v is None:
            return False
        config = self._i2v.transformer.config
        return config.image_dim is not None and config.pos_embed_seq_len is not None

    # -- generation ---------------------------------------------------------------------

    def _check_geometry(self, pipe: Any, num_frames: int, width: int, height: int) -> None:
        temporal = pipe.vae_scale_factor_temporal
        if num_frames < 1 or (num_frames - 1) % temporal:
            raise ValueError(f"num_frames must be {temporal}k + 1, got {num_frames}")
        multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        if width < multiple or height < multiple or width % multiple or height % multiple:
            raise ValueError(f"width and height must be multiples of {multiple}")

    def _videos(
        self,
        pipe: Any,
        parts: Sequence[BatchPart],
        *,
        num_frames: int,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        **extra: Any,
    ) -> PartResults:
        self._check_geometry(pipe, num_frames, width, height)
        return self._call_batch(
            pipe,
            parts,
            steps,
            rules=WAN_ROWS,
            outputs=lambda result: [list(video) for video in result.frames],
            pixels=width * height,
            # Wan encodes an empty negative prompt where there is none: parts may differ.
            negative_prompt=[
                part.negative_prompt or "" for part in parts for _ in range(part.count)
            ],
            num_frames=num_frames,
            width=width,
            height=height,
            guidance_scale=guidance_scale,
            **extra,
        )

    def text_to_video_batch(
        self, parts: Sequence[BatchPart], *, num_frames: int, **shape: Unpack[CallShape]
    ) -> PartResults:
        """Every part's videos (each a list of frames) in one batched call, video i of a part
        seeded with its seed + i; or the interruption of a part whose hooks stopped it."""
        return self._videos(self._t2v, parts, num_frames=num_frames, **shape)

    def text_to_video(
        self, *, num_frames: int, **arguments: Unpack[CallArguments]
    ) -> list[Image.Image]:
        """The frames of one video. num_frames must be 4k + 1, width and height multiples of
        16. Raises `GenerationInterrupted` when `hooks.should_stop()` turns true after a step."""
        (video,) = self._single(self.text_to_video_batch, arguments, num_frames=num_frames)
        return video

    def image_to_video(
        self,
        *,
        image: Image.Image,
        last_image: Image.Image | None = None,
        num_frames: int,
        **arguments: Unpack[CallArguments],
    ) -> list[Image.Image]:
        """The frames of one video starting at `image` (and ending at `last_image`, where the
        checkpoint supports it: see `supports_last_frame`). Both images are scaled and
        centre-cropped to width x height."""
        if self._i2v is None:
            raise RuntimeError("no image-to-video model is loaded")
        if last_image is not None and not self.supports_last_frame:
            raise ValueError(
                "the loaded image-to-video checkpoint (Wan 2.1 I2V) does not support a last "
                "frame; use a Wan 2.2 I2V or Wan 2.1 FLF2V checkpoint"
            )
        if last_image is None and self.requires_last_frame:
            raise ValueError("the loaded checkpoint (Wan 2.1 FLF2V) needs a last frame")
        size = (arguments["width"], arguments["height"])
        frames = {"image": fit(image, *size)}
        if last_image is not None:
            frames["last_image"] = fit(last_image, *size)
        i2v_batch = partial(self._videos, self._i2v)
        (video,) = self._single(i2v_batch, arguments, num_frames=num_frames, **frames)
        return video
