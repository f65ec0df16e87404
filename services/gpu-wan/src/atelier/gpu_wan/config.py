from __future__ import annotations

from pydantic import Field

from atelier.runtime.worker import WorkerSettings


class WanSettings(WorkerSettings):
    #: Text-to-video pipeline: a save_pretrained directory or a hub id.
    model: str = Field(default="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", validation_alias="WAN_MODEL")
