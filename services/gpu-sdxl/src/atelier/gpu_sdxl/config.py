from __future__ import annotations

from pydantic import Field

from atelier.inference.service import WorkerSettings


class SdxlSettings(WorkerSettings):
    #: A directory written by save_pretrained, or a hub id such as the default.
    model: str = Field(
        default="stabilityai/stable-diffusion-xl-base-1.0", validation_alias="SDXL_MODEL"
    )
