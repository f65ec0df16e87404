"""Generation jobs: what was asked, and what came of it."""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from atelier.contracts import subjects
from atelier.contracts.envelope import Envelope

Model = Literal["sdxl", "wan"]
Mode = Literal["image", "video"]
Quality = Literal["fast", "high"]
AssetType = Literal["image", "video"]

MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 6
MAX_SEED = 2**32 - 1
Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
NegativePrompt = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GenerationSpec(_Frozen):
    """A fully resolved request: every default applied, every value within bounds.

    The gateway resolves presets and chooses the seed before publishing, so that the
    event alone reproduces the job.
    """

    model: Model
    mode: Mode
    quality: Quality
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    num_images: int = Field(ge=1, le=MAX_IMAGES)
    seed: int = Field(ge=0, le=MAX_SEED, description="Image i uses seed + i")
    width: int = Field(ge=64, le=2048, multiple_of=8)
    height: int = Field(ge=64, le=2048, multiple_of=8)
    steps: int = Field(ge=1, le=100)
    guidance_scale: float = Field(ge=0.0, le=20.0)
    num_frames: int | None = Field(default=None, ge=1, le=129)
    fps: int | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _fits_model(self) -> Self:
        if self.model == "sdxl" and self.mode != "image":
            raise ValueError("sdxl makes images only; use model 'wan' for video")
        if self.model == "wan" and (self.width % 16 or self.height % 16):
            raise ValueError("wan needs width and height in multiples of 16")
        if self.mode == "video":
            if self.num_frames is None or self.fps is None:
                raise ValueError("a video needs num_frames and fps")
            if (self.num_frames - 1) % 4:
                raise ValueError("num_frames must be 4k+1 (1, 5, 9, … 81)")
        elif self.num_frames is not None:
            raise ValueError("num_frames applies to video only")
        if self.seed + self.num_images - 1 > MAX_SEED:
            raise ValueError("seed + num_images - 1 must fit in 32 bits")
        return self


class GeneratedAsset(_Frozen):
    """One file a GPU service wrote into the workspace bucket."""

    index: int = Field(ge=0, lt=MAX_IMAGES)
    asset_type: AssetType
    storage_key: str
    thumbnail_key: str
    mime_type: str
    file_size_bytes: int = Field(ge=1)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    duration_seconds: float | None = Field(default=None, ge=0)
    seed: int = Field(ge=0, le=MAX_SEED)


class _JobData(_Frozen):
    job_id: uuid.UUID
    model: Model


class GenerationRequestedData(_JobData):
    spec: GenerationSpec

    @model_validator(mode="after")
    def _same_model(self) -> Self:
        if self.spec.model != self.model:
            raise ValueError("data.model and spec.model differ")
        return self


class GenerationStartedData(_JobData):
    worker_id: str = Field(max_length=128)
    attempt: int = Field(ge=1)


class GenerationCompletedData(_JobData):
    spec: GenerationSpec
    assets: list[GeneratedAsset] = Field(min_length=1, max_length=MAX_IMAGES)
    worker_id: str = Field(max_length=128)
    inference_seconds: float = Field(ge=0)


class GenerationFailedData(_JobData):
    reason: str = Field(max_length=2000)
    code: Literal["bad_request", "retries_exhausted", "internal"]


class _GenerationEvent(Envelope):
    """An event of the generation aggregate: its subject carries model and job id."""

    name: ClassVar[str]
    data: _JobData

    @property
    def subject(self) -> str:
        return subjects.generation(self.user_id, self.data.model, self.data.job_id, self.name)

    @property
    def dedup_id(self) -> str:
        return f"{self.data.job_id}:{self.name}"


class GenerationRequested(_GenerationEvent):
    name: ClassVar[str] = "requested"
    type: Literal["generation.requested"] = "generation.requested"
    data: GenerationRequestedData


class GenerationStarted(_GenerationEvent):
    name: ClassVar[str] = "started"
    type: Literal["generation.started"] = "generation.started"
    data: GenerationStartedData

    @property
    def dedup_id(self) -> str:
        return f"{self.data.job_id}:started:{self.data.attempt}"


class GenerationCompleted(_GenerationEvent):
    name: ClassVar[str] = "completed"
    type: Literal["generation.completed"] = "generation.completed"
    data: GenerationCompletedData


class GenerationFailed(_GenerationEvent):
    name: ClassVar[str] = "failed"
    type: Literal["generation.failed"] = "generation.failed"
    data: GenerationFailedData
