from __future__ import annotations

from pydantic import Field

from atelier.inference.service import WorkerSettings


class WanSettings(WorkerSettings):
    #: Text-to-video pipeline: a save_pretrained directory or a hub id.
    model: str = Field(default="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", validation_alias="WAN_MODEL")
    #: Image-to-video pipeline (start frame, and last frame where the checkpoint takes one);
    #: without it, jobs with frames fail with a clear reason.
    i2v_model: str | None = Field(default=None, validation_alias="WAN_I2V_MODEL")
