"""Wan text-to-video and image-to-video (diffusers `WanPipeline`, `WanImageToVideoPipeline`).

`WanPipelines.load` takes what those pipelines' `from_pretrained` take: hub ids such as
`Wan-AI/Wan2.1-T2V-1.3B-Diffusers` / `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers` or local diffusers
folders (the tiny offline models of `atelier.gpu_wan.tiny_model` in tests).

First-and-last-frame video (`last_image`) in diffusers 0.42.1 depends on the I2V checkpoint:

* Wan 2.2 I2V (no CLIP image encoder, `transformer.config.image_dim` is None): optional.
* Wan 2.1 FLF2V (image encoder and `pos_embed_seq_len` set): required; it encodes both frames.
* Wan 2.1 I2V (image encoder, no `pos_embed_seq_len`): not supported; diffusers fails with a
  batch size mismatch, so `image_to_video` refuses it with a ValueError up front.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from PIL import Image

from atelier.inference.device import allow_tf32, on_device, placement
from atelier.inference.pipelines import CallArguments, LoadedPipelines, fit
from atelier.inference.progress import NO_HOOKS, GenerationInterrupted

if TYPE_CHECKING:
    import torch
    from diffusers import WanImageToVideoPipeline, WanPipeline

__all__ = ["GenerationInterrupted", "WanPipelines"]

#: Frame rate Wan 2.1 and Wan 2.2 A14B were trained at.
WAN_FPS = 16

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
    def load(
        cls,
        t2v_model: str,
        i2v_model: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        *,
        share_encoders: bool = True,
        compile_transformer: bool = False,
    ) -> WanPipelines:
        """Load the pipelines. With `share_encoders`, the i2v pipeline reuses the t2v text
        encoder and VAE where their configs are equal (as in all Wan 2.1/2.2-A14B releases)
        instead of holding a second copy. The VAE and the CLIP image encoder stay in float32,
        as diffusers' Wan examples load them."""
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
        if compile_transformer:
            pipelines.compile()
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
        CUDA, no progress bars."""
        allow_tf32(device)
        for pipe in (t2v, i2v):
            if pipe is not None:
                on_device(pipe, device)
        return cls(t2v, i2v, device, dtype)

    def compile(self, mode: str | None = None) -> None:
        """Compile the text-to-video transformer, whole-graph (in torch's default mode unless
        told otherwise): what the TORCH_COMPILE setting does at load."""
        import torch

        self._t2v.transformer = torch.compile(self._t2v.transformer, mode=mode, fullgraph=True)

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

    def _frames(
        self, pipe: Any, num_frames: int, arguments: CallArguments, **extra: Any
    ) -> list[Image.Image]:
        import torch

        width, height = arguments["width"], arguments["height"]
        self._check_geometry(pipe, num_frames, width, height)
        result = self._call(
            pipe,
            arguments.get("hooks", NO_HOOKS),
            arguments["steps"],
            prompt=arguments["prompt"],
            negative_prompt=arguments["negative_prompt"],
            num_frames=num_frames,
            width=width,
            height=height,
            guidance_scale=arguments["guidance_scale"],
            # A CPU generator gives the same initial noise for a seed on every device.
            generator=torch.Generator(device="cpu").manual_seed(arguments["seed"]),
            **extra,
        )
        return list(result.frames[0])

    def text_to_video(
        self, *, num_frames: int, **arguments: Unpack[CallArguments]
    ) -> list[Image.Image]:
        """The frames of one video. num_frames must be 4k + 1, width and height multiples of
        16. Raises `GenerationInterrupted` when `hooks.should_stop()` turns true after a step."""
        return self._frames(self._t2v, num_frames, arguments)

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
        return self._frames(self._i2v, num_frames, arguments, **frames)
