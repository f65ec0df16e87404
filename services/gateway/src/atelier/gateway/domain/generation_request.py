"""What a user may ask for, and how a request becomes a fully resolved job spec."""

from __future__ import annotations

import secrets

from pydantic import BaseModel, ConfigDict, Field

from atelier.contracts.generation import (
    MAX_IMAGES,
    MAX_SEED,
    GenerationSpec,
    Mode,
    Model,
    NegativePrompt,
    Prompt,
    Quality,
)
from atelier.gateway.config import GatewaySettings

#: (steps, guidance scale) by model and quality; the seed platform's SDXL presets.
PRESETS: dict[tuple[str, str], tuple[int, float]] = {
    ("sdxl", "fast"): (15, 6.0),
    ("sdxl", "high"): (25, 7.5),
    ("wan", "fast"): (20, 5.0),
    ("wan", "high"): (30, 5.0),
}


class GenerationRequest(BaseModel):
    """Body of `POST /v1/generations`."""

    model_config = ConfigDict(extra="forbid")

    model: Model
    mode: Mode = "image"
    quality: Quality = "fast"
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    num_images: int = Field(default=1, ge=1, le=MAX_IMAGES)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    width: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    height: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    steps: int | None = Field(default=None, ge=1, le=100)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=20.0)
    num_frames: int | None = Field(default=None, ge=1, le=129)


def resolve(request: GenerationRequest, settings: GatewaySettings) -> GenerationSpec:
    """Apply presets and defaults, choose a seed; raises ValidationError if out of bounds."""
    steps, guidance = PRESETS[(request.model, request.quality)]
    if request.model == "sdxl":
        width = height = settings.sdxl_default_size
    else:
        width, height = settings.wan_default_width, settings.wan_default_height
    video = request.mode == "video"
    frames = request.num_frames or settings.wan_default_frames if video else request.num_frames
    return GenerationSpec(
        model=request.model,
        mode=request.mode,
        quality=request.quality,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_images=request.num_images,
        seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED - MAX_IMAGES),
        width=request.width or width,
        height=request.height or height,
        steps=request.steps or steps,
        guidance_scale=request.guidance_scale if request.guidance_scale is not None else guidance,
        num_frames=frames,
        fps=settings.wan_fps if video else None,
    )
