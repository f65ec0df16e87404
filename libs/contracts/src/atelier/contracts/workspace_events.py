"""Events of the workspace: what happened to each workspace asset after it was made."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from atelier.contracts.assets import MAX_TAGS, AssetSnapshot, Tag, Title, check_owned_files
from atelier.contracts.envelope import AggregateEvent
from atelier.contracts.storage import ObjectKey

KIND = "workspace"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: uuid.UUID


class AssetSavedData(_Data):
    """The user saved the asset; the library copies it and then shows it."""

    library_asset_id: uuid.UUID
    collection_id: uuid.UUID | None = None
    custom_title: Title | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    asset: AssetSnapshot


class AssetLeftData(_Data):
    """The asset left the workspace; its files go once any library copy is made."""

    storage_key: ObjectKey
    thumbnail_key: ObjectKey
    library_asset_id: uuid.UUID | None = None


class AssetAddedData(_Data):
    """A library asset was copied back into the workspace."""

    source_library_asset_id: uuid.UUID
    asset: AssetSnapshot
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the copy leaves the workspace unless saved; when absent (older "
        "events), seven days after the event",
    )


class AssetUnsavedData(_Data):
    library_asset_id: uuid.UUID


class FilesDeletedData(_Data):
    keys: list[ObjectKey]


class _WorkspaceEvent(AggregateEvent):
    kind: ClassVar[str] = KIND

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.data.asset_id

    @model_validator(mode="after")
    def _files_are_the_users(self) -> Self:
        check_owned_files(self.user_id, self.data)
        return self


class AssetSaved(_WorkspaceEvent):
    name: ClassVar[str] = "saved"
    type: Literal["workspace.asset_saved"] = "workspace.asset_saved"
    data: AssetSavedData


class AssetDiscarded(_WorkspaceEvent):
    """The user deleted the asset."""

    name: ClassVar[str] = "discarded"
    type: Literal["workspace.asset_discarded"] = "workspace.asset_discarded"
    data: AssetLeftData


class AssetRemoved(_WorkspaceEvent):
    """The user cleared the workspace (or a job): saved first, then removed."""

    name: ClassVar[str] = "removed"
    type: Literal["workspace.asset_removed"] = "workspace.asset_removed"
    data: AssetLeftData


class AssetExpired(_WorkspaceEvent):
    name: ClassVar[str] = "expired"
    type: Literal["workspace.asset_expired"] = "workspace.asset_expired"
    data: AssetLeftData


class AssetAdded(_WorkspaceEvent):
    name: ClassVar[str] = "added"
    type: Literal["workspace.asset_added"] = "workspace.asset_added"
    data: AssetAddedData


class AssetUnsaved(_WorkspaceEvent):
    """Its library copy was deleted: saving it again makes a new one."""

    name: ClassVar[str] = "unsaved"
    type: Literal["workspace.asset_unsaved"] = "workspace.asset_unsaved"
    data: AssetUnsavedData


class FilesDeleted(_WorkspaceEvent):
    name: ClassVar[str] = "files_deleted"
    type: Literal["workspace.files_deleted"] = "workspace.files_deleted"
    data: FilesDeletedData


#: The events after which an asset is no longer in the workspace.
LEFT = (AssetDiscarded, AssetRemoved, AssetExpired)
