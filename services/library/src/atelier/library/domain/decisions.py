"""Decisions on library assets and collections, from their last event (pure)."""

from __future__ import annotations

import secrets
import uuid

from atelier.contracts import library as api
from atelier.contracts import library_events as events
from atelier.contracts.envelope import Envelope
from atelier.runtime.aggregates import Decision, LastEvent, Refused

SOURCE = "library"
#: Bytes of randomness in a share token: 192 bits, 32 URL-safe characters.
SHARE_TOKEN_BYTES = 24


def new_share_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


def _gone(last: Envelope | None) -> bool:
    return last is None or isinstance(
        last, events.AssetDeleted | events.LibraryFilesDeleted | events.CollectionDeleted
    )


def collection_exists(last: LastEvent) -> bool:
    return isinstance(last.event, events.CollectionCreated | events.CollectionUpdated)


def _require_present(last: LastEvent, what: str) -> None:
    if _gone(last.event):
        raise Refused(404, "Not Found", f"no such {what} in your library")


class AssetDecisions:
    def __init__(self, user_id: uuid.UUID, row: dict) -> None:
        self.user_id = user_id
        self.row = row
        self.id: uuid.UUID = row["id"]

    def update(self, last: LastEvent, command: api.UpdateAsset) -> Decision[dict]:
        """Changing `visibility` mints, keeps or clears the share token (see
        `_share_token`); the event carries it, so a rebuild restores every link."""
        _require_present(last, "asset")
        values = {field: getattr(command.patch, field) for field in command.changed}
        if "tags" in values and values["tags"] is None:
            values["tags"] = []
        if "visibility" in values:
            values["share_token"] = self._share_token(last, values["visibility"])
        event = events.AssetUpdated.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.AssetUpdatedData(
                library_asset_id=self.id, changed=command.changed, **values
            ),
        )
        return Decision([event], self.row | values)

    def _share_token(self, last: LastEvent, visibility: str) -> str | None:
        """None while private; else the asset's token, or a new one when it has none. A
        link made private dies for good: sharing again mints a new token. The current
        token is the last visibility change's on the log when that is the last event (so a
        decision taken again after a concurrent change keeps that change's token), else
        the row's (commands wait until the projection shows their change)."""
        if visibility == "private":
            return None
        event = last.event
        if isinstance(event, events.AssetUpdated) and "visibility" in event.data.changed:
            current = event.data.share_token
        else:
            current = self.row.get("share_token")
        return current or new_share_token()

    def delete(self, last: LastEvent) -> Decision[api.Deleted]:
        _require_present(last, "asset")
        event = events.AssetDeleted.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.AssetDeletedData(
                library_asset_id=self.id,
                source_workspace_asset_id=self.row["source_workspace_asset_id"],
                storage_key=self.row["storage_key"],
                thumbnail_key=self.row["thumbnail_key"],
            ),
        )
        return Decision([event], api.Deleted(id=self.id))

    def copy_to_workspace(self, last: LastEvent, snapshot) -> Decision[api.CopiedToWorkspace]:
        _require_present(last, "asset")
        new_id = uuid.uuid4()
        event = events.CopiedToWorkspace.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.CopiedToWorkspaceData(
                library_asset_id=self.id, workspace_asset_id=new_id, asset=snapshot
            ),
        )
        return Decision([event], api.CopiedToWorkspace(workspace_asset_id=new_id))


class CollectionDecisions:
    def __init__(self, user_id: uuid.UUID, collection_id: uuid.UUID) -> None:
        self.user_id = user_id
        self.id = collection_id

    def create(self, last: LastEvent, fields: api.CollectionFields) -> Decision[None]:
        if last.event is not None:
            raise Refused(409, "Conflict", "a collection with this id exists")
        return Decision([self._defined(events.CollectionCreated, fields)], None)

    def update(self, last: LastEvent, patch: api.CollectionPatch) -> Decision[api.CollectionFields]:
        _require_present(last, "collection")
        current = last.event.data  # created or updated: carries the whole definition
        fields = api.CollectionFields(
            name=patch.name if patch.name is not None else current.name,
            description=patch.description if patch.description is not None else current.description,
        )
        return Decision([self._defined(events.CollectionUpdated, fields)], fields)

    def delete(self, last: LastEvent) -> Decision[None]:
        _require_present(last, "collection")
        event = events.CollectionDeleted.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.CollectionRefData(collection_id=self.id),
        )
        return Decision([event], None)

    def _defined(self, event_type, fields: api.CollectionFields):
        return event_type.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.CollectionDefinedData(collection_id=self.id, **fields.model_dump()),
        )
