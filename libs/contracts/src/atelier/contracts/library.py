"""The library service's commands and queries, and their answers (request/reply over NATS)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from atelier.contracts import subjects
from atelier.contracts.assets import (
    MAX_TAGS,
    AssetSettings,
    AssetView,
    ShareToken,
    Tag,
    Title,
    Visibility,
)
from atelier.contracts.generation import AssetType
from atelier.contracts.library_events import AssetField, CollectionName, Description
from atelier.contracts.requests import MAX_PAGE_SIZE, Cursor, PageRequest, UserRequest
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
#: The `AssetSettings` of a library asset of the user's (an `AssetRef`; 404 if not theirs).
ASSET_SETTINGS = subjects.rpc(SERVICE, "asset_settings")

#: Anonymous reads of shared assets (no user: the token is the capability).
SHARED_ASSET = subjects.rpc(SERVICE, "shared_asset")
PUBLIC_ASSETS = subjects.rpc(SERVICE, "public_assets")
LOCATE_SHARED_FILE = subjects.rpc(SERVICE, "locate_shared_file")


def share_path(token: str) -> str:
    """A share link's page, relative to the gateway's public URL (which the gateway adds)."""
    return f"/s/{token}"


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
    share_url: str | None = Field(
        default=None,
        description="The share link while unlisted or public (anyone with it sees the asset); "
        "null while private",
    )
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


class SharedAssetRef(BaseModel):
    """An anonymous request: the share token is all it names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: ShareToken


class LocateSharedFile(SharedAssetRef):
    part: Literal["file", "thumbnail"]


class SharedFile(BaseModel):
    """Where a shared asset's file lies, for the gateway to serve it (internal: the key
    names the owner, so it never reaches an anonymous client)."""

    bucket: str
    key: str


class PublicAssetsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: Cursor | None = None


class SharedAsset(BaseModel):
    """A library asset as anyone with its link sees it: nothing of its owner (no user,
    collection, source asset, tags or object keys). The URLs are the gateway's (its
    public URL before them): the page, the file and the thumbnail, each answering 404 as
    soon as the asset is private again or deleted."""

    token: str
    share_url: str
    visibility: Literal["unlisted", "public"]
    title: str = Field(description="The owner's title, else the prompt (shortened)")
    asset_type: AssetType
    mime_type: str
    width: int
    height: int
    duration_seconds: float | None
    settings: AssetSettings = Field(
        description="The plain generation parameters; `reference` is always null (its "
        "image is the owner's)"
    )
    file_url: str
    thumbnail_url: str
    shared_at: AwareDatetime = Field(description="When it got its current visibility")


class SharedAssetPage(BaseModel):
    items: list[SharedAsset]
    next_cursor: str | None
