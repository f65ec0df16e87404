from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from atelier.inference.service import WorkerSettings
from atelier.inference.warmup import WarmupShape

#: (steps, guidance scale) of the gateway's SDXL quality presets (`atelier.gateway.domain.
#: generation_request.PRESETS`; a test keeps the two equal): what the warm-up renders.
SDXL_PRESETS = {"fast": (15, 6.0), "high": (25, 7.5)}


class SdxlSettings(WorkerSettings):
    #: A directory written by save_pretrained, or a hub id such as the default.
    model: str = Field(
        default="stabilityai/stable-diffusion-xl-base-1.0", validation_alias="SDXL_MODEL"
    )
    #: The size the gateway gives jobs that name none (the same setting): the warm-up's.
    default_size: int = Field(
        default=1024, ge=64, le=2048, multiple_of=8, validation_alias="SDXL_DEFAULT_SIZE"
    )

    #: An SDXL image at 1024x1024 in a batch: UNet activations for both guidance halves and
    #: its share of the VAE decode (one image at a time), in bfloat16/float16.
    image_bytes: ClassVar[int] = 3 * 2**30

    def preset_shapes(self) -> list[WarmupShape]:
        size = self.default_size
        return [
            WarmupShape(width=size, height=size, steps=steps, guidance_scale=guidance)
            for steps, guidance in SDXL_PRESETS.values()
        ]
