"""What the workspace and the library know of one stored file and how it was made."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from atelier.contracts.generation import (
    MAX_SEED,
    AssetType,
    Mode,
    Model,
    NegativePrompt,
    Prompt,
    Quality,
    Reference,
    StoredFile,
)
from atelier.contracts.text import SINGLE_LINE, SingleLineText, StorableJson

Visibility = Literal["private", "unlisted", "public"]
MAX_TAGS = 20
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=40, pattern=r"^[\w\- ]+$"
    ),
    SINGLE_LINE,
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE
]
#: The unguessable part of a share link (`secrets.token_urlsafe`: 22 characters or more
#: is 128 bits or more; the library mints 32, 192 bits).
ShareToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22,64}$"), SINGLE_LINE]


class AssetSnapshot(StoredFile):
    """A file with its generation metadata; events carry it whole, so a consumer never
    has to ask another service (and a rebuild never depends on another table)."""

    generation_seed: int = Field(ge=0, le=MAX_SEED)
    original_prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    model_used: SingleLineText = Field(max_length=64)
    generation_settings: StorableJson = Field(
        description="Free-form; its keys and strings hold no control character but tab and "
        "newline, its numbers are finite and fit in 64 bits"
    )
    generated_at: AwareDatetime


def _or_null(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The value if it fits its field, else None: settings are shown as far as known."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _known(kind: Any) -> Any:
    return Annotated[kind | None, WrapValidator(_or_null), Field(default=None)]


class AssetSettings(BaseModel):
    """The settings that made an asset, as a request takes them back ("use these settings
    again"): each null when unknown (an older event, a copied asset, a foreign PNG) or not
    within the bounds a request allows; never an error. `seed` is the asset's own seed, so
    the same settings make the same picture; `reference` is the img2img reference as the
    job's spec had it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    prompt: _known(Prompt)
    negative_prompt: _known(NegativePrompt)
    model: _known(Model)
    mode: _known(Mode)
    quality: _known(Quality)
    width: _known(Annotated[int, Field(ge=64, le=2048, multiple_of=8)])
    height: _known(Annotated[int, Field(ge=64, le=2048, multiple_of=8)])
    steps: _known(Annotated[int, Field(ge=1, le=100)])
    guidance_scale: _known(Annotated[float, Field(ge=0.0, le=20.0, allow_inf_nan=False)])
    seed: _known(Annotated[int, Field(ge=0, le=MAX_SEED)])
    num_frames: _known(Annotated[int, Field(ge=1, le=129)])
    fps: _known(Annotated[int, Field(ge=1, le=60)])
    reference: _known(Reference)

    @classmethod
    def of(cls, asset: Mapping[str, Any] | AssetSnapshot) -> AssetSettings:
        """The settings of a stored asset (an `AssetSnapshot`, or a row or dict with its
        fields): its job's spec as kept in `generation_settings`, with the prompts, the
        model and the asset's own seed from their columns. The one place they are derived."""
        if isinstance(asset, BaseModel):
            asset = dict(asset)
        recorded = asset.get("generation_settings")
        return cls.model_validate(
            (dict(recorded) if isinstance(recorded, Mapping) else {})
            | {
                "prompt": asset.get("original_prompt"),
                "negative_prompt": asset.get("negative_prompt"),
                "model": asset.get("model_used"),
                "seed": asset.get("generation_seed"),
            }
        )


class AssetView(BaseModel):
    """What the API shows of any stored asset, with short-lived signed URLs; `settings`
    is derived from the rest (`AssetSettings.of`) unless given."""

    asset_type: AssetType
    mime_type: str
    file_size_bytes: int
    width: int
    height: int
    duration_seconds: float | None
    generation_seed: int
    original_prompt: str
    negative_prompt: str | None
    model_used: str
    generation_settings: dict[str, Any]
    settings: AssetSettings
    file_url: str
    thumbnail_url: str

    @model_validator(mode="before")
    @classmethod
    def _with_settings(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("settings") is None:
            return {**data, "settings": AssetSettings.of(data)}
        return data


def check_owned_files(user_id: uuid.UUID, data: BaseModel) -> None:
    """Every object key an event of `user_id` names (its asset's file and thumbnail, the
    keys it deleted) lies under the user's prefix: a forged or buggy event cannot make a
    reactor copy or delete another user's objects, nor a row point at them."""
    asset = getattr(data, "asset", None)
    keys = [*getattr(data, "keys", ())]
    for holder in (data, asset):
        keys += [getattr(holder, name, None) for name in ("storage_key", "thumbnail_key")]
    for key in filter(None, keys):
        owner, _, rest = key.partition("/")
        if owner != str(user_id) or not rest or ".." in rest.split("/"):
            raise ValueError(f"{key!r} is not an object of user {user_id}")
