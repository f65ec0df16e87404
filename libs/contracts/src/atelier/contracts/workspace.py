"""The workspace service's commands and queries, and their answers (request/reply over NATS).

The gateway fills `user_id` from the authenticated token; every request is scoped to it.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from atelier.contracts import subjects
from atelier.contracts.assets import MAX_TAGS, Tag, Title
from atelier.contracts.generation import AssetType

SERVICE = "workspace"
LIST_ASSETS = subjects.rpc(SERVICE, "list_assets")
SAVE_ASSET = subjects.rpc(SERVICE, "save_asset")
DISCARD_ASSET = subjects.rpc(SERVICE, "discard_asset")
CLEAR = subjects.rpc(SERVICE, "clear")
LOCATE_IMAGE = subjects.rpc(SERVICE, "locate_image")

MAX_PAGE_SIZE = 100


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID


class ListAssets(_Request):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=200)


class WorkspaceAsset(BaseModel):
    """One workspace asset as the API shows it, with short-lived signed URLs."""

    id: uuid.UUID
    job_id: uuid.UUID | None = Field(description="Null for a copy from the library")
    asset_index: int
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
    created_at: AwareDatetime
    expires_at: AwareDatetime
    library_asset_id: uuid.UUID | None = Field(
        description="The library asset it was saved as; null while not saved"
    )
    file_url: str
    thumbnail_url: str


class AssetPage(BaseModel):
    items: list[WorkspaceAsset]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class SaveOptions(BaseModel):
    """Body of `POST /v1/workspace/assets/{id}/save`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    collection_id: uuid.UUID | None = None
    custom_title: Title | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class SaveAsset(_Request):
    asset_id: uuid.UUID
    options: SaveOptions = SaveOptions()


class Saved(BaseModel):
    library_asset_id: uuid.UUID


class DiscardAsset(_Request):
    asset_id: uuid.UUID


class Discarded(BaseModel):
    asset_id: uuid.UUID


class ClearOptions(BaseModel):
    """Body of `POST /v1/workspace/clear`: one job, or the whole workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: uuid.UUID | None = None


class Clear(_Request):
    options: ClearOptions = ClearOptions()


class Cleared(BaseModel):
    saved: int = Field(description="Assets saved to the library on the way out")
    removed: int = Field(description="Assets that left the workspace")


class LocateImage(_Request):
    """Where an image asset of the user is, for a job to read it (404 if not theirs)."""

    asset_id: uuid.UUID
