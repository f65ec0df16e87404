"""The library service's commands and queries, and their answers (request/reply over NATS)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from atelier.contracts import subjects
from atelier.contracts.assets import MAX_TAGS, AssetView, Tag, Title, Visibility
from atelier.contracts.generation import AssetType
from atelier.contracts.library_events import AssetField, CollectionName, Description
from atelier.contracts.requests import PageRequest, UserRequest
from atelier.contracts.text import SINGLE_LINE

SERVICE = "library"
LIST_ASSETS = subjects.rpc(SERVICE, "list_assets")
UPDATE_ASSET = subjects.rpc(SERVICE, "update_asset")
DELETE_ASSET = subjects.rpc(SERVICE, "delete_asset")
COPY_TO_WORKSPACE = subjects.rpc(SERVICE, "copy_to_workspace")
LIST_COLLECTIONS = subjects.rpc(SERVICE, "list_collections")
CHECK_COLLECTION = subjects.rpc(SERVICE, "check_collection")
CREATE_COLLECTION = subjects.rpc(SERVICE, "create_collection")
UPDATE_COLLECTION = subjects.rpc(SERVICE, "update_collection")
DELETE_COLLECTION = subjects.rpc(SERVICE, "delete_collection")
LOCATE_IMAGE = subjects.rpc(SERVICE, "locate_image")

#: `q`: what a prompt or a title contains.
SearchText = Annotated[str, StringConstraints(max_length=200), SINGLE_LINE]


class AssetFilters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    collection_id: uuid.UUID | None = None
    q: SearchText | None = Field(default=None, description="Prompt or title contains")
    tag: Tag | None = None
    favorite: bool | None = None
    asset_type: AssetType | None = None


class ListAssets(PageRequest):
    filters: AssetFilters = AssetFilters()


class LibraryAsset(AssetView):
    """One library asset as the API shows it, with signed URLs."""

    id: uuid.UUID
    source_workspace_asset_id: uuid.UUID
    collection_id: uuid.UUID | None
    custom_title: str | None
    tags: list[str]
    is_favorite: bool
    visibility: Visibility
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AssetPage(BaseModel):
    items: list[LibraryAsset]
    next_cursor: str | None


class AssetPatch(BaseModel):
    """Body of `PATCH /v1/library/assets/{id}`: only the fields present change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_title: Title | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    is_favorite: bool | None = None
    visibility: Visibility | None = None
    collection_id: uuid.UUID | None = None


class UpdateAsset(UserRequest):
    library_asset_id: uuid.UUID
    changed: list[AssetField] = Field(min_length=1)
    patch: AssetPatch


class AssetRef(UserRequest):
    library_asset_id: uuid.UUID


class Deleted(BaseModel):
    id: uuid.UUID


class CopiedToWorkspace(BaseModel):
    workspace_asset_id: uuid.UUID


class Collection(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    asset_count: int
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Collections(BaseModel):
    items: list[Collection]


class ListCollections(UserRequest):
    pass


class CollectionRef(UserRequest):
    collection_id: uuid.UUID


class CollectionFields(BaseModel):
    """Body of `POST /v1/library/collections`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: CollectionName
    description: Description = ""


class CollectionPatch(BaseModel):
    """Body of `PATCH /v1/library/collections/{id}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: CollectionName | None = None
    description: Description | None = None


class CreateCollection(UserRequest):
    fields: CollectionFields


class UpdateCollection(UserRequest):
    collection_id: uuid.UUID
    patch: CollectionPatch
