from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from atelier.inference.service import WorkerSettings
from atelier.inference.warmup import WarmupShape

#: (steps, guidance scale) of the gateway's Wan quality presets (`atelier.gateway.domain.
#: generation_request.PRESETS`; a test keeps the two equal): what the warm-up renders.
WAN_PRESETS = {"fast": (20, 5.0), "high": (30, 5.0)}


class WanSettings(WorkerSettings):
    #: Text-to-video pipeline: a save_pretrained directory or a hub id.
    model: str = Field(default="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", validation_alias="WAN_MODEL")
    #: Image-to-video pipeline (start frame, and last frame where the checkpoint takes one);
    #: without it, jobs with frames fail with a clear reason.
    i2v_model: str | None = Field(default=None, validation_alias="WAN_I2V_MODEL")
    #: The video size the gateway gives jobs that name none (the same settings): the
    #: warm-up's.
    default_width: int = Field(default=832, ge=64, le=2048, validation_alias="WAN_DEFAULT_WIDTH")
    default_height: int = Field(default=480, ge=64, le=2048, validation_alias="WAN_DEFAULT_HEIGHT")
    default_frames: int = Field(default=33, ge=1, le=129, validation_alias="WAN_DEFAULT_FRAMES")
    #: One video per call unless told otherwise: a 480p video keeps a GPU busy on its own.
    max_batch_images: int | None = Field(default=1, ge=1, le=64)

    #: A Wan 2.1 1.3B 480p video of 33 frames in a batch (activations, VAE decode).
    image_bytes: ClassVar[int] = 8 * 2**30

    def preset_shapes(self) -> list[WarmupShape]:
        return [
            WarmupShape(
                width=self.default_width,
                height=self.default_height,
                num_frames=self.default_frames,
                steps=steps,
                guidance_scale=guidance,
            )
            for steps, guidance in WAN_PRESETS.values()
        ]
