"""What a user may ask for, and how a request becomes a fully resolved job spec."""

from __future__ import annotations

import secrets
import uuid
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from atelier.contracts.assets import AssetSettings
from atelier.contracts.generation import (
    MAX_IMAGES,
    MAX_SEED,
    GenerationSpec,
    ImageRef,
    Mode,
    Model,
    NegativePrompt,
    Prompt,
    Quality,
    Reference,
    ReferenceMode,
    RemixOf,
)
from atelier.gateway.config import GatewaySettings

#: (steps, guidance scale) by model and quality; the seed platform's SDXL presets.
PRESETS: dict[tuple[str, str], tuple[int, float]] = {
    ("sdxl", "fast"): (15, 6.0),
    ("sdxl", "high"): (25, 7.5),
    ("wan", "fast"): (20, 5.0),
    ("wan", "high"): (30, 5.0),
}

#: (strength, guidance scale, steps by quality) for img2img, within the modes' bounds.
REFERENCE_PRESETS: dict[str, tuple[float, float, dict[str, int]]] = {
    "modify": (0.5, 5.5, {"fast": 20, "high": 30}),
    "exact_copy": (0.05, 1.0, {"fast": 6, "high": 10}),
}


class ImageSource(BaseModel):
    """One of the user's images: a workspace asset, a library asset, or an upload."""

    model_config = ConfigDict(extra="forbid")

    asset_id: uuid.UUID | None = Field(default=None, description="A workspace asset")
    library_asset_id: uuid.UUID | None = None
    upload_id: uuid.UUID | None = Field(default=None, description="From POST /v1/uploads")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [self.asset_id, self.library_asset_id, self.upload_id]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of asset_id, library_asset_id, upload_id")
        return self


class ReferenceRequest(ImageSource):
    mode: ReferenceMode = "modify"
    strength: float | None = Field(default=None, gt=0.0, le=1.0)


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


class GenerationRequest(BaseModel):
    """Body of `POST /v1/generations`. `model` and `prompt` are required, unless
    `remix_of` names an asset: then its settings are the request's, and the fields present
    in the body override them."""

    model_config = ConfigDict(extra="forbid")

    remix_of: RemixOf | None = Field(
        default=None,
        description="Use these settings again: the asset's settings (its seed included; "
        "num_images 1), overridden by the fields present in the body",
    )
    # Optional, and None only when absent (the default is not validated): `null` is
    # refused, the schema is the plain type, and a generated client keeps its enum.
    model: Model = Field(  # type: ignore[assignment]
        default=None, description="Required without remix_of", json_schema_extra=_no_default
    )
    mode: Mode = "image"
    quality: Quality = "fast"
    prompt: Prompt = Field(  # type: ignore[assignment]
        default=None, description="Required without remix_of", json_schema_extra=_no_default
    )
    negative_prompt: NegativePrompt | None = None
    num_images: int = Field(default=1, ge=1, le=MAX_IMAGES)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    width: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    height: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    steps: int | None = Field(default=None, ge=1, le=100)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=20.0)
    num_frames: int | None = Field(default=None, ge=1, le=129)
    reference_image: ReferenceRequest | None = Field(default=None, description="sdxl img2img")
    start_frame: ImageSource | None = Field(default=None, description="wan image-to-video")
    end_frame: ImageSource | None = Field(default=None, description="wan last frame")

    def image_sources(self) -> dict[str, ImageSource]:
        """The request's images by role: reference_image, start_frame, end_frame."""
        roles = ("reference_image", "start_frame", "end_frame")
        return {role: getattr(self, role) for role in roles if getattr(self, role) is not None}


#: The request's fields an asset's settings fill in for a remix.
_REMIXED = frozenset(
    {
        "model",
        "mode",
        "quality",
        "prompt",
        "negative_prompt",
        "seed",
        "width",
        "height",
        "steps",
        "guidance_scale",
        "num_frames",
    }
)
#: Settings that follow from another: when a remix changes that one, these come from its
#: defaults and presets again (new quality, new steps), unless the body gives them too.
_FOLLOWERS: dict[str, tuple[str, ...]] = {
    "model": ("mode", "width", "height", "steps", "guidance_scale", "num_frames"),
    "mode": ("num_frames",),
    "quality": ("steps", "guidance_scale"),
    "reference_image": ("steps", "guidance_scale"),
}


def remix(
    request: GenerationRequest, asset: AssetSettings
) -> tuple[GenerationRequest, Reference | None]:
    """Use these settings again: the request the asset's settings make, with the fields
    the client set (`model_fields_set`, so a default never overrides) in their place;
    `num_images` is 1 unless given, the seed the asset's own unless given. Also the
    asset's img2img reference, carried over unless the body gives `reference_image` (null
    drops it) or the model is no longer sdxl: the caller checks it is still there."""
    given = request.model_fields_set - {"remix_of"}
    taken = asset.model_dump(include=set(_REMIXED), exclude_none=True)
    before = taken | {"reference_image": asset.reference}  # a request's never equals it
    for field, followers in _FOLLOWERS.items():
        if field in given and getattr(request, field) != before.get(field):
            for follower in followers:
                taken.pop(follower, None)
    merged = taken | {field: getattr(request, field) for field in given}
    remixed = GenerationRequest.model_validate(merged | {"remix_of": request.remix_of})
    carried = None
    if "reference_image" not in given and remixed.model == "sdxl":
        carried = asset.reference
    return remixed, carried


def resolve(
    request: GenerationRequest,
    settings: GatewaySettings,
    images: dict[str, ImageRef] | None = None,
    carried: Reference | None = None,
) -> GenerationSpec:
    """Apply presets and defaults, choose a seed; raises ValidationError if out of bounds.

    `images` says where each of the request's images is, by role (see `image_sources`);
    `carried` is a remixed asset's reference, when the request gives none of its own.
    """
    images = images or {}
    missing = [name for name in ("model", "prompt") if getattr(request, name) is None]
    if missing:
        raise ValidationError.from_exception_data(
            "GenerationRequest",
            [{"type": "missing", "loc": (name,), "input": None} for name in missing],
        )
    steps, guidance = PRESETS[(request.model, request.quality)]
    reference = None
    if request.reference_image is not None:
        ask = request.reference_image
        strength, guidance, by_quality = REFERENCE_PRESETS[ask.mode]
        steps = by_quality[request.quality]
        reference = Reference(
            image=images["reference_image"],
            mode=ask.mode,
            strength=ask.strength if ask.strength is not None else strength,
        )
    elif carried is not None:
        _, guidance, by_quality = REFERENCE_PRESETS[carried.mode]
        steps, reference = by_quality[request.quality], carried
    if request.model == "sdxl":
        width = height = settings.sdxl_default_size
    else:
        width, height = settings.wan_default_width, settings.wan_default_height
    video = request.mode == "video"
    frames = request.num_frames or settings.wan_default_frames if video else request.num_frames
    spec = GenerationSpec(
        model=request.model,
        mode=request.mode,
        quality=request.quality,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_images=request.num_images,
        seed=secrets.randbelow(MAX_SEED - MAX_IMAGES) if request.seed is None else request.seed,
        width=request.width or width,
        height=request.height or height,
        steps=request.steps or steps,
        guidance_scale=request.guidance_scale if request.guidance_scale is not None else guidance,
        num_frames=frames,
        fps=settings.wan_fps if video else None,
        reference=reference,
        start_frame=images.get("start_frame"),
        end_frame=images.get("end_frame"),
    )
    within_device_limits(spec, settings)
    return spec


def within_device_limits(spec: GenerationSpec, settings: GatewaySettings) -> None:
    """Refuse (ValidationError, so 422) what the GPUs cannot make, as the operator set it."""
    largest = settings.sdxl_max_size if spec.model == "sdxl" else settings.wan_max_size
    limits = [("width", spec.width, largest), ("height", spec.height, largest)]
    limits.append(("num_images", spec.num_images, settings.max_images_per_job))
    if spec.num_frames is not None:
        limits.append(("num_frames", spec.num_frames, settings.wan_max_frames))
    for field, value, most in limits:
        if value > most:
            message = f"at most {most} on this platform's GPUs for {spec.model}"
            raise ValidationError.from_exception_data(
                "GenerationRequest",
                [
                    {
                        "type": "value_error",
                        "loc": (field,),
                        "input": value,
                        "ctx": {"error": ValueError(message)},
                    }
                ],
            )
