"""Generation jobs: what was asked, and what came of it."""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from atelier.contracts import storage, subjects
from atelier.contracts.envelope import Envelope
from atelier.contracts.storage import ObjectKey
from atelier.contracts.text import BIGINT_MAX, INTEGER_MAX, MULTI_LINE, SINGLE_LINE, MultiLineText

Model = Literal["sdxl", "wan"]
Mode = Literal["image", "video"]
Quality = Literal["fast", "high"]
AssetType = Literal["image", "video"]

MAX_PROMPT_CHARS = 2000
MAX_REASON_CHARS = 2000
MAX_IMAGES = 6
MAX_SEED = 2**32 - 1
Prompt = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS),
    MULTI_LINE,
]
NegativePrompt = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_PROMPT_CHARS), MULTI_LINE
]
MimeType = Annotated[str, StringConstraints(max_length=100), SINGLE_LINE]
WorkerId = Annotated[str, StringConstraints(max_length=128), SINGLE_LINE]
#: A priority tier (the JWT claim the gateway reads, e.g. `free` or `pro`).
TierName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


ReferenceMode = Literal["modify", "exact_copy"]

#: The seed platform's img2img modes: (strength, guidance scale, steps) bounds.
REFERENCE_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "modify": {"strength": (0.35, 0.65), "guidance_scale": (4.0, 7.0), "steps": (15, 30)},
    "exact_copy": {"strength": (0.0, 0.05), "guidance_scale": (1.0, 1.0), "steps": (6, 10)},
}


class ImageRef(_Frozen):
    """An image of the user's in S3: a workspace or library asset, or an upload."""

    bucket: Literal["workspace-temp", "user-library"]
    key: ObjectKey = Field(pattern=r"^[0-9a-f-]{36}/[A-Za-z0-9_./-]+$")

    @model_validator(mode="after")
    def _no_traversal(self) -> Self:
        if ".." in self.key.split("/"):
            raise ValueError("an object key may not contain '..'")
        return self

    @property
    def owner(self) -> str:
        return self.key.split("/", 1)[0]


class Reference(_Frozen):
    """img2img: start from `image`, re-noise `strength` of it."""

    image: ImageRef
    mode: ReferenceMode
    strength: float = Field(gt=0.0, le=1.0)


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
    reference: Reference | None = Field(default=None, description="sdxl: img2img")
    start_frame: ImageRef | None = Field(default=None, description="wan: image-to-video")
    end_frame: ImageRef | None = Field(default=None, description="wan: first and last frame")

    def images(self) -> list[ImageRef]:
        """Every image of the user's this job reads."""
        found = [self.reference.image if self.reference else None, self.start_frame]
        return [image for image in [*found, self.end_frame] if image is not None]

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
        if self.reference is not None:
            if self.model != "sdxl":
                raise ValueError("a reference image is for sdxl; wan takes start_frame")
            self._within_reference_bounds(self.reference)
        if (self.start_frame or self.end_frame) and self.model != "wan":
            raise ValueError("start_frame and end_frame are for wan")
        if self.end_frame and not self.start_frame:
            raise ValueError("end_frame needs a start_frame")
        return self

    def _within_reference_bounds(self, reference: Reference) -> None:
        bounds = REFERENCE_BOUNDS[reference.mode]
        values = {
            "strength": reference.strength,
            "guidance_scale": self.guidance_scale,
            "steps": self.steps,
        }
        for name, (low, high) in bounds.items():
            if not low <= values[name] <= high:
                raise ValueError(f"{reference.mode}: {name} must be within {low}–{high}")


class RemixOf(_Frozen):
    """The asset a job takes its settings from ("use these settings again"): exactly one
    of a workspace asset and a library asset of the user's."""

    asset_id: uuid.UUID | None = Field(default=None, description="A workspace asset")
    library_asset_id: uuid.UUID | None = Field(default=None, description="A library asset")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.asset_id is None) == (self.library_asset_id is None):
            raise ValueError("give exactly one of asset_id, library_asset_id")
        return self


#: Namespace of generated assets' ids: uuid5(job_id, index) names one asset forever, so
#: every replay of the log, and every subscriber, gives it the same id.
_GENERATED_ASSET_NAMESPACE = uuid.UUID("3f1c7b8e-5b7a-4c55-9a39-6a3c1d0e2b10")


def generated_asset_id(job_id: uuid.UUID, index: int) -> uuid.UUID:
    """The workspace asset id of a job's `index`-th file."""
    return uuid.uuid5(_GENERATED_ASSET_NAMESPACE, f"{job_id}/{index}")


class StoredFile(_Frozen):
    """A file in a bucket, with its thumbnail: what it is and how large."""

    asset_type: AssetType
    storage_key: ObjectKey
    thumbnail_key: ObjectKey
    mime_type: MimeType
    file_size_bytes: int = Field(ge=1, le=BIGINT_MAX)
    width: int = Field(ge=1, le=INTEGER_MAX)
    height: int = Field(ge=1, le=INTEGER_MAX)
    duration_seconds: float | None = Field(default=None, ge=0)


class _JobFile(_Frozen):
    index: int = Field(ge=0, lt=MAX_IMAGES)


# Pydantic takes the bases' fields last base first: `index`, the file's, then `seed`.
class GeneratedAsset(StoredFile, _JobFile):
    """One file a GPU service wrote into the workspace bucket."""

    seed: int = Field(ge=0, le=MAX_SEED)


class _JobData(_Frozen):
    job_id: uuid.UUID
    model: Model


class GenerationRequestedData(_JobData):
    spec: GenerationSpec
    request_hash: Annotated[str, StringConstraints(max_length=64), SINGLE_LINE] | None = Field(
        default=None,
        description="With an Idempotency-Key: the hash of the request body it was sent with",
    )
    tier: TierName | None = Field(
        default=None, description="The user's tier when they asked (None: the default tier)"
    )
    remix_of: RemixOf | None = Field(
        default=None, description="The asset whose settings the job started from, if any"
    )

    @model_validator(mode="after")
    def _same_model(self) -> Self:
        if self.spec.model != self.model:
            raise ValueError("data.model and spec.model differ")
        return self


class GenerationDispatchedData(_JobData):
    """The scheduler's decision: this job goes to the model's workers now. It carries the
    spec, so a worker needs nothing else to run it."""

    spec: GenerationSpec
    tier: TierName
    cost: float = Field(ge=0, description="Estimated GPU work: images x steps x pixels x frames")


class GenerationStartedData(_JobData):
    worker_id: WorkerId
    attempt: int = Field(ge=1, le=INTEGER_MAX)


class GenerationCompletedData(_JobData):
    spec: GenerationSpec
    assets: list[GeneratedAsset] = Field(min_length=1, max_length=MAX_IMAGES)
    worker_id: WorkerId
    inference_seconds: float = Field(ge=0, description="The time of the call that made it")
    gpu_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Its share of that call: the call's seconds x its images / the call's "
        "images (absent in older events: the call's seconds)",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the files leave the workspace unless saved; when absent (older "
        "events), seven days after the event",
    )


class GenerationFailedData(_JobData):
    reason: MultiLineText = Field(max_length=MAX_REASON_CHARS)
    code: Literal["bad_request", "retries_exhausted", "internal"]


class _GenerationEvent(Envelope):
    """An event of the generation aggregate: its subject carries model and job id."""

    name: ClassVar[str]
    data: _JobData

    @property
    def subject(self) -> str:
        return subjects.generation(self.user_id, self.data.model, self.data.job_id, self.name)

    @classmethod
    def subject_filter(cls) -> str:
        return subjects.generation_events(cls.name)

    @property
    def dedup_id(self) -> str:
        return f"{self.data.job_id}:{self.name}"


class _SpecifiedJobEvent(_GenerationEvent):
    """An event that carries the job's spec: whoever appends it, the job it describes
    reads only its own user's images."""

    data: GenerationRequestedData | GenerationDispatchedData

    @model_validator(mode="after")
    def _reads_only_the_users_images(self) -> Self:
        if any(image.owner != str(self.user_id) for image in self.data.spec.images()):
            raise ValueError("a job may only read images of its own user")
        return self


class GenerationRequested(_SpecifiedJobEvent):
    name: ClassVar[str] = "requested"
    type: Literal["generation.requested"] = "generation.requested"
    data: GenerationRequestedData


class GenerationDispatched(_SpecifiedJobEvent):
    """The scheduler hands the job to its model's workers (in the fair order)."""

    name: ClassVar[str] = "dispatched"
    type: Literal["generation.dispatched"] = "generation.dispatched"
    data: GenerationDispatchedData


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

    @model_validator(mode="after")
    def _files_are_the_jobs_own(self) -> Self:
        """Each file has the key its job and index give it: a worker cannot point a
        user's workspace at another user's (or another job's) objects."""
        user, job = self.user_id, self.data.job_id
        for asset in self.data.assets:
            wanted = (
                storage.generated_file(
                    user, job, asset.index, storage.extension_of(asset.storage_key)
                ),
                storage.generated_thumbnail(user, job, asset.index),
            )
            if (asset.storage_key, asset.thumbnail_key) != wanted:
                raise ValueError(f"asset {asset.index}: keys must be {wanted[0]} and {wanted[1]}")
        return self


class GenerationFailed(_GenerationEvent):
    name: ClassVar[str] = "failed"
    type: Literal["generation.failed"] = "generation.failed"
    data: GenerationFailedData


class GenerationCancelRequestedData(_JobData):
    pass


class GenerationCancelledData(_JobData):
    at_step: int | None = Field(default=None, ge=0, description="None: cancelled while queued")


class GenerationCancelRequested(_GenerationEvent):
    """The user asked to cancel: a queued job is skipped, a running one stops at a step."""

    name: ClassVar[str] = "cancel_requested"
    type: Literal["generation.cancel_requested"] = "generation.cancel_requested"
    data: GenerationCancelRequestedData


class GenerationCancelled(_GenerationEvent):
    name: ClassVar[str] = "cancelled"
    type: Literal["generation.cancelled"] = "generation.cancelled"
    data: GenerationCancelledData


#: The outcomes of a job: exactly one of them ends every accepted request.
OUTCOMES = (GenerationCompleted, GenerationFailed, GenerationCancelled)
