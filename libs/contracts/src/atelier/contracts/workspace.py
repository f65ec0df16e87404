"""The workspace service's commands and queries, and their answers (request/reply over NATS)."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from atelier.contracts import subjects
from atelier.contracts.assets import MAX_TAGS, AssetView, Tag, Title
from atelier.contracts.requests import PageRequest, UserRequest

SERVICE = "workspace"
LIST_ASSETS = subjects.rpc(SERVICE, "list_assets")
SAVE_ASSET = subjects.rpc(SERVICE, "save_asset")
DISCARD_ASSET = subjects.rpc(SERVICE, "discard_asset")
CLEAR = subjects.rpc(SERVICE, "clear")
LOCATE_IMAGE = subjects.rpc(SERVICE, "locate_image")
#: The `AssetSettings` of a workspace asset of the user's (404 if not theirs).
ASSET_SETTINGS = subjects.rpc(SERVICE, "asset_settings")


class ListAssets(PageRequest):
    pass


class WorkspaceAsset(AssetView):
    """One workspace asset as the API shows it, with short-lived signed URLs."""

    id: uuid.UUID
    job_id: uuid.UUID | None = Field(description="Null for a copy from the library")
    asset_index: int
    created_at: AwareDatetime
    expires_at: AwareDatetime
    library_asset_id: uuid.UUID | None = Field(
        description="The library asset it was saved as; null while not saved"
    )


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


class SaveAsset(UserRequest):
    asset_id: uuid.UUID
    options: SaveOptions = SaveOptions()


class Saved(BaseModel):
    library_asset_id: uuid.UUID


class DiscardAsset(UserRequest):
    asset_id: uuid.UUID


class Discarded(BaseModel):
    asset_id: uuid.UUID


class ClearOptions(BaseModel):
    """Body of `POST /v1/workspace/clear`: one job, or the whole workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: uuid.UUID | None = None


class Clear(UserRequest):
    options: ClearOptions = ClearOptions()


class Cleared(BaseModel):
    saved: int = Field(description="Assets saved to the library on the way out")
    removed: int = Field(description="Assets that left the workspace")


class LocateImage(UserRequest):
    """Where an image asset of the user is, for a job to read it (404 if not theirs)."""

    asset_id: uuid.UUID


class AssetSettingsOf(UserRequest):
    """The settings that made an asset of the user's (any type; 404 if not theirs)."""

    asset_id: uuid.UUID
