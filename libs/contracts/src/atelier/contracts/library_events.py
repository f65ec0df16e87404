"""Events of the library: library assets and collections."""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from atelier.contracts.assets import (
    MAX_TAGS,
    AssetSnapshot,
    ShareToken,
    Tag,
    Title,
    Visibility,
    check_owned_files,
)
from atelier.contracts.envelope import AggregateEvent
from atelier.contracts.storage import ObjectKey
from atelier.contracts.text import MULTI_LINE, SINGLE_LINE
from atelier.contracts.workspace_events import AssetSavedData

ASSET_KIND = "library"
COLLECTION_KIND = "collection"

CollectionName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SINGLE_LINE
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), MULTI_LINE]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _AssetData(_Frozen):
    library_asset_id: uuid.UUID


class AssetStoredData(_AssetData):
    """The files are in the library bucket: the asset becomes visible."""

    source_workspace_asset_id: uuid.UUID
    collection_id: uuid.UUID | None = None
    custom_title: Title | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    asset: AssetSnapshot

    @classmethod
    def of_saved(cls, saved: AssetSavedData, asset: AssetSnapshot) -> Self:
        """The library's copy of a saved workspace asset, its files now `asset`: it keeps
        what the user chose as they saved it (collection, title, tags)."""
        return cls(
            library_asset_id=saved.library_asset_id,
            source_workspace_asset_id=saved.asset_id,
            collection_id=saved.collection_id,
            custom_title=saved.custom_title,
            tags=saved.tags,
            asset=asset,
        )


AssetField = Literal["custom_title", "tags", "is_favorite", "visibility", "collection_id"]


class AssetUpdatedData(_AssetData):
    """New values of the fields named in `changed`; the others are not meaningful."""

    changed: list[AssetField] = Field(min_length=1)
    custom_title: Title | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    is_favorite: bool = False
    visibility: Visibility = "private"
    collection_id: uuid.UUID | None = None
    share_token: ShareToken | None = Field(
        default=None,
        description="With `visibility`: the asset's share link token from now on (minted "
        "when it leaves private, kept between unlisted and public, None when private)",
    )


class AssetDeletedData(_AssetData):
    source_workspace_asset_id: uuid.UUID
    storage_key: ObjectKey
    thumbnail_key: ObjectKey


class CopiedToWorkspaceData(_AssetData):
    """The user asked for a workspace copy; the workspace makes it (a new asset id)."""

    workspace_asset_id: uuid.UUID
    asset: AssetSnapshot


class FilesDeletedData(_AssetData):
    keys: list[ObjectKey]


class _LibraryAssetEvent(AggregateEvent):
    kind: ClassVar[str] = ASSET_KIND

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.data.library_asset_id

    @model_validator(mode="after")
    def _files_are_the_users(self) -> Self:
        check_owned_files(self.user_id, self.data)
        return self


class AssetStored(_LibraryAssetEvent):
    name: ClassVar[str] = "stored"
    type: Literal["library.asset_stored"] = "library.asset_stored"
    data: AssetStoredData


class AssetUpdated(_LibraryAssetEvent):
    name: ClassVar[str] = "updated"
    type: Literal["library.asset_updated"] = "library.asset_updated"
    data: AssetUpdatedData


class AssetDeleted(_LibraryAssetEvent):
    name: ClassVar[str] = "deleted"
    type: Literal["library.asset_deleted"] = "library.asset_deleted"
    data: AssetDeletedData


class CopiedToWorkspace(_LibraryAssetEvent):
    name: ClassVar[str] = "copied_to_workspace"
    type: Literal["library.copied_to_workspace"] = "library.copied_to_workspace"
    data: CopiedToWorkspaceData


class LibraryFilesDeleted(_LibraryAssetEvent):
    name: ClassVar[str] = "files_deleted"
    type: Literal["library.files_deleted"] = "library.files_deleted"
    data: FilesDeletedData


class CollectionRefData(_Frozen):
    collection_id: uuid.UUID


class CollectionDefinedData(CollectionRefData):
    name: CollectionName
    description: Description = ""


class _CollectionEvent(AggregateEvent):
    kind: ClassVar[str] = COLLECTION_KIND

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.data.collection_id


class CollectionCreated(_CollectionEvent):
    name: ClassVar[str] = "created"
    type: Literal["library.collection_created"] = "library.collection_created"
    data: CollectionDefinedData


class CollectionUpdated(_CollectionEvent):
    name: ClassVar[str] = "updated"
    type: Literal["library.collection_updated"] = "library.collection_updated"
    data: CollectionDefinedData


class CollectionDeleted(_CollectionEvent):
    """Its assets stay in the library, outside any collection."""

    name: ClassVar[str] = "deleted"
    type: Literal["library.collection_deleted"] = "library.collection_deleted"
    data: CollectionRefData
