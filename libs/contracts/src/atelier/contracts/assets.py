"""What the workspace and the library know of one stored file and how it was made."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from atelier.contracts.generation import MAX_SEED, AssetType, NegativePrompt, Prompt, StoredFile
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


class AssetView(BaseModel):
    """What the API shows of any stored asset, with short-lived signed URLs."""

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
    file_url: str
    thumbnail_url: str


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
